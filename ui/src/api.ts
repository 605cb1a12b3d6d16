// Typed calls into the app. Every type here is generated from Rust (ui/src/bindings).

import { Channel, invoke } from "@tauri-apps/api/core";
import type { ActivityView } from "./bindings/ActivityView";
import type { AuditEntry } from "./bindings/AuditEntry";
import type { BuildEvent } from "./bindings/BuildEvent";
import type { BuildOutcome } from "./bindings/BuildOutcome";
import type { IdeWindowView } from "./bindings/IdeWindowView";
import type { ImageEntry } from "./bindings/ImageEntry";
import type { KeyInfo } from "./bindings/KeyInfo";
import type { KeyTest } from "./bindings/KeyTest";
import type { KeyUsage } from "./bindings/KeyUsage";
import type { LogChunk } from "./bindings/LogChunk";
import type { NewWorkspace } from "./bindings/NewWorkspace";
import type { PreviewDefaults } from "./bindings/PreviewDefaults";
import type { PreviewForm } from "./bindings/PreviewForm";
import type { PreviewView } from "./bindings/PreviewView";
import type { Settings } from "./bindings/Settings";
import type { StartedView } from "./bindings/StartedView";
import type { UpdateView } from "./bindings/UpdateView";
import type { ResourcesView } from "./bindings/ResourcesView";
import type { DiskUsage } from "./bindings/DiskUsage";
import type { PruneOutcome } from "./bindings/PruneOutcome";
import type { WorkspaceView as Workspace } from "./bindings/WorkspaceView";
import type { WorkspaceEdit } from "./bindings/WorkspaceEdit";

export const api = {
  list: () => invoke<Workspace[]>("list_workspaces"),
  get: (name: string) => invoke<Workspace>("get_workspace", { name }),
  checkName: (name: string) => invoke<void>("check_name", { name }),
  checkProject: (path: string) => invoke<string>("check_project", { path }),
  create: (form: NewWorkspace) => invoke<Workspace>("create_workspace", { form }),
  start: (name: string) => invoke<StartedView>("start_workspace", { name }),
  stop: (name: string) => invoke<Workspace>("stop_workspace", { name }),
  restart: (name: string) => invoke<StartedView>("restart_workspace", { name }),
  remove: (name: string) => invoke<void>("delete_workspace", { name }),
  edit: (name: string, edit: WorkspaceEdit) => invoke<Workspace>("edit_workspace", { name, edit }),
  audit: (name: string) => invoke<AuditEntry[]>("audit_log", { name }),
  followLogs: (name: string, follow: boolean, onChunk: (c: LogChunk) => void) => {
    const channel = new Channel<LogChunk>();
    channel.onmessage = onChunk;
    return invoke<number>("follow_logs", { name, follow, onChunk: channel });
  },
  stopLogs: (id: number) => invoke<void>("stop_logs", { id }),
  watchResources: (onView: (v: ResourcesView) => void) => {
    const channel = new Channel<ResourcesView>();
    channel.onmessage = onView;
    return invoke<number>("watch_resources", { onView: channel });
  },
  stopResources: (id: number) => invoke<void>("stop_resources", { id }),
  forceStop: (name: string) => invoke<Workspace>("force_stop_workspace", { name }),
  forceStopPreview: (id: string) => invoke<void>("force_stop_preview", { id }),
  diskUsage: () => invoke<DiskUsage>("disk_usage"),
  prune: (dryRun: boolean, only: string[] | null) => invoke<PruneOutcome>("prune", { dryRun, only }),
  images: () => invoke<ImageEntry[]>("list_images"),
  buildImage: (name: string, onEvent: (e: BuildEvent) => void) => {
    const channel = new Channel<BuildEvent>();
    channel.onmessage = onEvent;
    return invoke<BuildOutcome>("build_image", { name, onEvent: channel });
  },
  settings: () => invoke<Settings>("get_settings"),
  saveSettings: (settings: Settings) => invoke<void>("save_settings", { settings }),
  openIde: (name: string) => invoke<IdeWindowView>("open_ide", { name }),
  ideWindow: (name: string) => invoke<IdeWindowView | null>("ide_window", { name }),
  openInBrowser: (name: string) => invoke<void>("open_in_browser", { name }),
  activities: () => invoke<ActivityView[]>("list_activity"),
  activity: (name: string) => invoke<ActivityView>("workspace_activity", { name }),
  snooze: (name: string, secs: number | null = null) => invoke<ActivityView>("snooze_workspace", { name, secs }),
  keys: () => invoke<KeyInfo[]>("list_keys"),
  setKey: (name: string, value: string, baseUrl: string | null) => invoke<KeyInfo>("set_key", { name, value, baseUrl }),
  testKey: (name: string) => invoke<KeyTest>("test_key", { name }),
  removeKey: (name: string) => invoke<void>("remove_key", { name }),
  usage: (name: string) => invoke<KeyUsage[]>("workspace_usage", { name }),
  previewDefaults: (name: string) => invoke<PreviewDefaults>("preview_defaults", { name }),
  /// Every workspace's previews with `name` null; soonest to expire first.
  previews: (name: string | null) => invoke<PreviewView[]>("list_previews", { name }),
  createPreview: (form: PreviewForm, onEvent: (e: BuildEvent) => void) => {
    const channel = new Channel<BuildEvent>();
    channel.onmessage = onEvent;
    return invoke<PreviewView>("create_preview", { form, onEvent: channel });
  },
  extendPreview: (id: string, secs: number) => invoke<PreviewView>("extend_preview", { id, secs }),
  sharePreview: (id: string, on: boolean) => invoke<PreviewView>("share_preview", { id, on }),
  removePreview: (id: string) => invoke<void>("remove_preview", { id }),
  openPreview: (id: string) => invoke<void>("open_preview", { id }),
  openPreviewInBrowser: (id: string) => invoke<void>("open_preview_in_browser", { id }),
  updateStatus: () => invoke<UpdateView>("update_status"),
  /// Checks now; a newer version is downloaded and verified before this resolves.
  checkUpdate: () => invoke<UpdateView>("check_update"),
  /// Installs the verified update and restarts the app; resolves only when it could not.
  installUpdate: () => invoke<UpdateView>("install_update"),
};
