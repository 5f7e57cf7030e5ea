// Composables shared by the pages: loading a resource with its error, running an action.
import { ref, shallowRef, type Ref } from 'vue';
import { ApiError } from '../api/http.ts';

export function useLoad<T>(fn: () => Promise<T>) {
  const data = shallowRef<T | null>(null) as Ref<T | null>;
  const error = ref<unknown>(null);
  const loading = ref(false);
  /** the endpoint is not on this node (404 "no route") */
  const unavailable = ref(false);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    loading.value = true;
    try {
      const v = await fn();
      if (mine !== seq) return;
      data.value = v;
      error.value = null;
      unavailable.value = false;
    } catch (err) {
      if (mine !== seq) return;
      if (err instanceof ApiError && err.unavailable) unavailable.value = true;
      else error.value = err;
    } finally {
      if (mine === seq) loading.value = false;
    }
  }
  return { data, error, loading, unavailable, load };
}

/** an action (form submit, button) with its own busy flag and error, shown next to it */
export function useAction<A extends unknown[], T>(fn: (...a: A) => Promise<T>) {
  const error = ref<unknown>(null);
  const busy = ref(false);
  const done = ref(false);
  async function run(...args: A): Promise<T | undefined> {
    busy.value = true;
    error.value = null;
    done.value = false;
    try {
      const v = await fn(...args);
      done.value = true;
      return v;
    } catch (err) {
      error.value = err;
      return undefined;
    } finally {
      busy.value = false;
    }
  }
  return { error, busy, done, run };
}
