// Hash history: the built files work at any base path with no server rewrite rules.
import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';
import { session } from './api/http.ts';

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true, title: 'Log in' } },
  { path: '/', redirect: '/overview' },
  { path: '/overview', name: 'overview', component: () => import('./pages/OverviewPage.vue'), meta: { title: 'Overview' } },
  { path: '/clients', name: 'clients', component: () => import('./pages/ClientsPage.vue'), meta: { title: 'Clients & sessions' } },
  { path: '/clients/:clientid', name: 'client', component: () => import('./pages/ClientDetailPage.vue'), props: true, meta: { title: 'Client' } },
  { path: '/subscriptions', name: 'subscriptions', component: () => import('./pages/SubscriptionsPage.vue'), meta: { title: 'Subscriptions' } },
  { path: '/retained', name: 'retained', component: () => import('./pages/RetainedPage.vue'), meta: { title: 'Retained messages' } },
  { path: '/access/authentication', name: 'authentication', component: () => import('./pages/AuthenticationPage.vue'), meta: { title: 'Authentication' } },
  { path: '/access/authorization', name: 'authorization', component: () => import('./pages/AuthorizationPage.vue'), meta: { title: 'Authorization (ACL)' } },
  { path: '/access/banned', name: 'banned', component: () => import('./pages/BannedPage.vue'), meta: { title: 'Banned clients' } },
  { path: '/integrations/hooks', name: 'hooks', component: () => import('./pages/HooksPage.vue'), meta: { title: 'Webhooks' } },
  { path: '/integrations/broker-subscriptions', name: 'broker-subscriptions', component: () => import('./pages/BrokerSubscriptionsPage.vue'), meta: { title: 'Broker subscriptions' } },
  { path: '/settings', name: 'settings', component: () => import('./pages/SettingsPage.vue'), meta: { title: 'Settings' } },
  { path: '/settings/audit', name: 'audit', component: () => import('./pages/AuditPage.vue'), meta: { title: 'Audit log' } },
  { path: '/tools', name: 'tools', component: () => import('./pages/ToolsPage.vue'), meta: { title: 'Tools' } },
  { path: '/:rest(.*)*', redirect: '/overview' },
];

export const router = createRouter({ history: createWebHashHistory(), routes });

router.beforeEach((to) => {
  if (!to.meta.public && !session.token) return { name: 'login', query: { redirect: to.fullPath } };
  return true;
});
router.afterEach((to) => {
  document.title = `${(to.meta.title as string) ?? 'Tern'} · Tern`;
});
