// Form plumbing shared by the admin pages: show an API error next to the field it names (and move
// focus there), or in the form's alert region.

import { ApiError } from './api.js';

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  const alert = form.querySelector('.alert');
  if (alert) alert.textContent = '';
}

export function showError(form, err) {
  const detail = err instanceof ApiError ? err.message : 'Something went wrong. Please try again.';
  const input = err instanceof ApiError && err.field ? form.querySelector(`[name="${err.field}"]`) : null;
  const slot = input ? form.querySelector(`#${input.id}-error`) : null;
  if (input && slot) {
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = detail;
    slot.hidden = false;
    input.focus();
    return;
  }
  const alert = form.querySelector('.alert');
  if (alert) {
    alert.textContent = detail;
    alert.focus();
  }
}

/** Runs `work` with the submit button disabled; errors land in the form. */
export async function submitting(form, work) {
  const button = form.querySelector('button[type="submit"]');
  clearErrors(form);
  if (button) button.disabled = true;
  try {
    await work();
  } catch (err) {
    showError(form, err);
  } finally {
    if (button) button.disabled = false;
  }
}
