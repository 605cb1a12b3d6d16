// The UI's state: workspaces by name, long-running steps, the Docker banner. Views read it
// and re-render on change; engine events (pushed by the app, no polling) update it.

import { listen } from "@tauri-apps/api/event";
import { api } from "./api";
import type { ActivityView } from "./bindings/ActivityView";
import type { EngineEvent } from "./bindings/EngineEvent";
import type { WorkspaceView as Workspace } from "./bindings/WorkspaceView";

export const state = {
  workspaces: new Map<string, Workspace>(),
  /// Workspace name → translation key of the step in progress (`progress.*`).
  progress: new Map<string, string>(),
  dockerLost: null as string | null,
  /// Workspace name → where it stands on idleness (warnings, "stopped (idle)").
  activity: new Map<string, ActivityView>(),
  loaded: false,
};

const listeners = new Set<() => void>();

export function onChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function changed() {
  for (const fn of listeners) fn();
}

export async function reload() {
  try {
    const [list, activity] = await Promise.all([api.list(), api.activities()]);
    state.workspaces = new Map(list.map((w) => [w.name, w]));
    state.activity = new Map(activity.map((a) => [a.name, a]));
    state.dockerLost = null;
  } catch (err) {
    state.dockerLost = (err as { message?: string }).message ?? String(err);
  }
  state.loaded = true;
  changed();
}

export function setActivity(a: ActivityView) {
  state.activity.set(a.name, a);
  changed();
}

/// A workspace started or stopped: where it stands on idleness changed with it.
async function refreshActivity(name: string) {
  const a = await api.activity(name).catch(() => null);
  if (a) setActivity(a);
}

export function upsert(ws: Workspace) {
  state.workspaces.set(ws.name, ws);
  changed();
}

/// Previews are not kept here: only the detail view's section shows them, so their events go
/// to it alone (no other view redraws for them). `resync`: events were lost, load them again.
export type PreviewNews = Extract<EngineEvent, { kind: "preview" | "preview_removed" }> | { kind: "resync" };
const previewListeners = new Set<(news: PreviewNews) => void>();

export function onPreviews(fn: (news: PreviewNews) => void): () => void {
  previewListeners.add(fn);
  return () => previewListeners.delete(fn);
}

function previewNews(news: PreviewNews) {
  for (const fn of previewListeners) fn(news);
}

export async function listenToEngine() {
  // The app lost events (a new daemon, a slow window): what is true now is a fresh list.
  await listen("engine-resync", () => {
    void reload();
    previewNews({ kind: "resync" });
  });
  await listen<EngineEvent>("engine-event", ({ payload }) => {
    switch (payload.kind) {
      case "preview":
      case "preview_removed":
        return previewNews(payload);
      case "updated":
        state.workspaces.set(payload.workspace.name, payload.workspace);
        break;
      case "status": {
        const ws = state.workspaces.get(payload.name);
        if (ws) ws.status = payload.status;
        if (payload.status !== "starting") state.progress.delete(payload.name);
        if (payload.status === "running" || payload.status === "stopped") void refreshActivity(payload.name);
        if (!ws) void reload();
        break;
      }
      case "activity":
        state.activity.set(payload.activity.name, payload.activity);
        break;
      case "removed":
        state.workspaces.delete(payload.name);
        state.activity.delete(payload.name);
        state.progress.delete(payload.name);
        break;
      case "progress":
        state.progress.set(payload.name, payload.step);
        break;
      case "docker_lost":
        state.dockerLost = payload.message;
        break;
      case "docker_back":
        state.dockerLost = null;
        void reload();
        previewNews({ kind: "resync" });
        break;
    }
    changed();
  });
}
