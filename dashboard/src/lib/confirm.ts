// Destructive actions ask first, in a dialog of the app (not window.confirm).
import { reactive } from 'vue';

export const confirmState = reactive({ open: false, message: '', action: 'Delete', resolve: null as null | ((ok: boolean) => void) });

export function confirmAction(message: string, action = 'Delete'): Promise<boolean> {
  return new Promise((resolve) => {
    confirmState.resolve?.(false);
    Object.assign(confirmState, { open: true, message, action, resolve });
  });
}

export function answer(ok: boolean) {
  const r = confirmState.resolve;
  Object.assign(confirmState, { open: false, resolve: null });
  r?.(ok);
}
