// Pieces several views share: status badges, progress, buttons for a workspace's actions.

import { api } from "../api";
import type { WorkspaceView as Workspace } from "../bindings/WorkspaceView";
import { h } from "../dom";
import { errorText, t } from "../i18n";
import { state, upsert } from "../state";

export function statusBadge(ws: Workspace): HTMLElement {
  return h(
    "span",
    { class: `badge ${ws.status}`, "data-testid": `ws-status-${ws.name}`, "data-status": ws.status },
    t(`status.${ws.status}`),
  );
}

/// The step a start is at, with an indeterminate bar; nothing when idle.
export function progressLine(name: string): HTMLElement | null {
  const step = state.progress.get(name);
  if (!step) return null;
  return h(
    "div",
    { class: "progress", "data-testid": `ws-progress-${name}` },
    h("div", { class: "bar indeterminate" }),
    h("span", {}, t(`progress.${step}`)),
  );
}

/// Runs a workspace action, showing an error next to the buttons if it fails.
export function actionButtons(ws: Workspace, errorSlot: HTMLElement): HTMLElement {
  const run = (fn: () => Promise<unknown>) => async (ev: Event) => {
    const button = ev.currentTarget as HTMLButtonElement;
    button.disabled = true;
    errorSlot.textContent = "";
    try {
      await fn();
    } catch (err) {
      errorSlot.textContent = errorText(err);
      state.progress.delete(ws.name);
    } finally {
      button.disabled = false;
    }
  };
  const running = ws.status === "running";
  const busy = ws.status === "starting" || ws.status === "stopping";
  return h(
    "span",
    { class: "actions" },
    running
      ? h("button", { "data-testid": `ws-stop-${ws.name}`, disabled: busy, onclick: run(async () => upsert(await api.stop(ws.name))) }, t("list.stop"))
      : h("button", { class: "primary", "data-testid": `ws-start-${ws.name}`, disabled: busy, onclick: run(() => api.start(ws.name)) }, t("list.start")),
    h("button", { "data-testid": `ws-open-${ws.name}`, disabled: busy, onclick: run(() => api.openIde(ws.name)) }, t("list.open")),
  );
}

export function idleText(ws: Workspace): string {
  return ws.idle_timeout_secs
    ? t("list.idle_after", { minutes: Math.round(ws.idle_timeout_secs / 60) })
    : t("list.idle_off");
}

/// A labelled form field with its own error line underneath.
export function field(label: string, input: HTMLElement, error: HTMLElement, hint?: string): HTMLElement {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input, hint ? h("small", {}, hint) : null, error);
}

export function errorLine(id: string): HTMLElement {
  return h("div", { class: "error", "data-testid": id, role: "alert" });
}
