import { createApp } from 'vue';
import App from './App.vue';
import { router } from './router.ts';
import { session, setUnauthorizedHandler } from './api/http.ts';
import { prefetchOverview } from './api/monitor.ts';
import './styles.css';

// An expired or revoked token sends the user to login, keeping the page to come back to.
setUnauthorizedHandler(() => {
  const current = router.currentRoute.value;
  if (current.name !== 'login') void router.replace({ name: 'login', query: { redirect: current.fullPath } });
});

if (session.token && /^(#\/?(overview)?)?(\?.*)?$/.test(location.hash)) prefetchOverview();

createApp(App).use(router).mount('#app');
