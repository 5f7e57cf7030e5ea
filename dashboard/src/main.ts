import { createApp } from 'vue';
import App from './App.vue';
import { router } from './router.ts';
import { setUnauthorizedHandler } from './api/http.ts';
import './styles.css';

// An expired or revoked token sends the user to login, keeping the page to come back to.
setUnauthorizedHandler(() => {
  const current = router.currentRoute.value;
  if (current.name !== 'login') void router.replace({ name: 'login', query: { redirect: current.fullPath } });
});

createApp(App).use(router).mount('#app');
