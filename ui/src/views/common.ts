// Pieces several views share: status badges, progress, buttons for a workspace's actions,
// form fields, the confirmation before a deletion.

import { api } from "../api";
import type { WorkspaceView as Workspace } from "../bindings/WorkspaceView";
import { h, mount } from "../dom";
import { stopsIn } from "../activity";
import { errorText, t } from "../i18n";
import { state, upsert } from "../state";

/// The status, told more exactly where idleness explains it: "Stopped (idle)", or a running
/// workspace's countdown once its warning is out.
export function statusBadge(ws: Workspace): HTMLElement {
  const a = state.activity.get(ws.name);
  const idle = ws.status === "stopped" && a?.state === "stopped_idle";
  const badge = h(
    "span",
    { class: `badge ${ws.status}`, "data-testid": `ws-status-${ws.name}`, "data-status": ws.status, "data-idle": idle },
    idle ? t("activity.status_stopped_idle") : t(`status.${ws.status}`),
  );
  if (ws.status === "running" && a?.state === "warned") {
    return h("span", {}, badge, " ", h("small", { class: "warn", "data-testid": `ws-countdown-${ws.name}` }, stopsIn(a.stops_at_ms)));
  }
  return badge;
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
    ? t("list.idle_after", { time: timeout(ws.idle_timeout_secs) })
    : t("list.idle_off");
}

/// An idle timeout as people write it: `20 s`, `30 min`, `1 h 30 min`.
function timeout(secs: number): string {
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.round(secs / 60)} min`;
  const h = Math.floor(secs / 3600);
  const m = Math.round((secs % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/// A labelled form field with its own error line underneath.
export function field(label: string, input: HTMLElement, error: HTMLElement, hint?: string): HTMLElement {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input, hint ? h("small", {}, hint) : null, error);
}

export function errorLine(id: string): HTMLElement {
  return h("div", { class: "error", "data-testid": id, role: "alert" });
}

/// Asks in a modal (inside `slot`) before deleting (or killing): `body` names what goes. `remove` runs on
/// the red button; the dialog closes after it either way (a failure is the caller's to show).
export function confirmDelete(slot: HTMLElement, title: string, body: string | Node, action: string, remove: () => Promise<void>) {
  const close = () => mount(slot);
  const yes: HTMLButtonElement = h("button", { class: "danger", "data-testid": "confirm-delete" }, action);
  yes.onclick = async () => {
    yes.disabled = true; // one click, one deletion
    try { await remove(); } finally { close(); }
  };
  mount(
    slot,
    h("div", { class: "modal", role: "dialog", "data-testid": "confirm-dialog" },
      h("div", { class: "card" },
        h("h2", {}, title),
        typeof body === "string" ? h("p", {}, body) : body,
        h("div", { class: "row" }, yes, h("button", { onclick: close }, t("detail.cancel"))))),
  );
}
