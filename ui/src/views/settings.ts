// Settings: port range, cap on running workspaces, default limits and idle stop, previews'
// lifetime and cap, language (switches the UI and the tray at once), what quitting does,
// updates; and the API keys.

import { api } from "../api";
import type { Settings } from "../bindings/Settings";
import { h, mount } from "../dom";
import { errorText, setLanguage, t } from "../i18n";
import type { View } from "../main";
import { render } from "../main";
import { errorLine, field } from "./common";
import { keysSection } from "./keys";
import { updatesSection } from "./updates";

const MIB = 1024 * 1024;
const HOUR = 3600;
/// Set across the re-render that a save (maybe of a new language) causes.
let justSaved = false;

export function settingsView(): View {
  const el = h("section", { class: "settings" });
  const error = errorLine("settings-error");
  const saved = h("div", { class: "ok", "data-testid": "settings-saved" });
  let updates: ReturnType<typeof updatesSection> | null = null;

  const build = (s: Settings) => {
    const input = (value: number | string, attrs: Record<string, string> = {}) =>
      h("input", { type: "number", value: String(value), ...attrs });
    const first = input(s.port_range.first, { "data-testid": "settings-port-first" });
    const last = input(s.port_range.last, { "data-testid": "settings-port-last" });
    const maxRunning = input(s.max_running, { min: "1" });
    const cpus = input(s.default_limits.cpus, { step: "0.5" });
    const memory = input(s.default_limits.memory_bytes / MIB, { step: "256" });
    const pids = input(s.default_limits.pids, { step: "64" });
    const idle = input(s.default_idle_timeout_secs ? s.default_idle_timeout_secs / 60 : "", { step: "5" });
    // In hours like the idle stop is in minutes; "any": a lifetime set in seconds (CLI) still saves.
    const previewTtl = input(s.preview_ttl_secs / HOUR, { step: "any", min: "0", "data-testid": "settings-preview-ttl" });
    const maxPreviews = input(s.max_previews, { min: "1", max: "50", "data-testid": "settings-max-previews" });
    const lang = h("select", { "data-testid": "settings-language" },
      h("option", { value: "" }, t("settings.language_system")),
      h("option", { value: "en" }, "English"),
      h("option", { value: "de" }, "Deutsch"));
    lang.value = s.language ?? "";
    const onQuit = h("select", {},
      h("option", { value: "leave_running" }, t("settings.on_quit_leave")),
      h("option", { value: "stop_workspaces" }, t("settings.on_quit_stop")));
    onQuit.value = s.on_quit;
    const n = (i: HTMLInputElement) => Number(i.value);
    updates = updatesSection(s.updates);
    const section = updates;

    return h(
      "form",
      {
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          error.textContent = "";
          const next: Settings = {
            ...s,
            port_range: { first: n(first), last: n(last) },
            max_running: n(maxRunning),
            default_limits: { cpus: n(cpus), memory_bytes: n(memory) * MIB, pids: n(pids) },
            default_idle_timeout_secs: idle.value.trim() === "" ? null : n(idle) * 60,
            preview_ttl_secs: Math.round(n(previewTtl) * HOUR),
            max_previews: n(maxPreviews),
            language: lang.value === "" ? null : lang.value,
            on_quit: onQuit.value as Settings["on_quit"],
            updates: section.value(),
          };
          try {
            await api.saveSettings(next);
            setLanguage(next.language);
            justSaved = true;
            render(); // the whole UI in the new language, no restart
          } catch (err) {
            error.textContent = errorText(err);
          }
        },
      },
      h("h1", {}, t("settings.title")),
      h("fieldset", {}, h("legend", {}, t("settings.port_range")),
        h("div", { class: "grid4" }, field(t("settings.port_first"), first, h("span")), field(t("settings.port_last"), last, h("span")))),
      field(t("settings.max_running"), maxRunning, h("span")),
      h("fieldset", {}, h("legend", {}, t("settings.default_limits")),
        h("div", { class: "grid4" },
          field(t("create.cpus"), cpus, h("span")),
          field(t("create.memory_mib"), memory, h("span")),
          field(t("create.pids"), pids, h("span")),
          field(t("settings.default_idle"), idle, h("span")))),
      h("fieldset", {}, h("legend", {}, t("settings.previews")),
        h("div", { class: "grid4" },
          field(t("settings.preview_ttl"), previewTtl, h("span")),
          field(t("settings.max_previews"), maxPreviews, h("span")))),
      field(t("settings.language"), lang, h("span")),
      field(t("settings.on_quit"), onQuit, h("span")),
      section.el,
      error,
      saved,
      h("div", { class: "row" }, h("button", { class: "primary", type: "submit", "data-testid": "settings-save" }, t("settings.save"))),
    );
  };
  if (justSaved) saved.textContent = t("settings.saved");
  justSaved = false;
  api.settings().then((s) => mount(el, build(s), keysSection()), (err) => (error.textContent = errorText(err)));
  return { el, dispose: () => updates?.dispose() };
}
