// Settings → Updates: this version, the last check, what's new in a verified update and
// "Install and restart". The automatic daily check and the update address are settings (saved
// with the form); checking and installing act at once. The state arrives live as "update"
// events (download progress, a check the daily timer ran).

import { listen } from "@tauri-apps/api/event";
import { api } from "../api";
import type { UpdateSettings } from "../bindings/UpdateSettings";
import type { UpdateView } from "../bindings/UpdateView";
import { h, mount } from "../dom";
import { t } from "../i18n";
import { field } from "./common";

/// The fieldset, and how to read its two settings back for saving; `dispose` stops listening.
export function updatesSection(settings: UpdateSettings): {
  el: HTMLElement;
  value: () => UpdateSettings;
  dispose: () => void;
} {
  const auto = h("input", { type: "checkbox", "data-testid": "settings-update-auto" });
  auto.checked = settings.auto_check;
  const endpoint = h("input", {
    type: "url",
    value: settings.endpoint ?? "",
    placeholder: t("updates.endpoint_default"),
    "data-testid": "settings-update-endpoint",
  });
  const version = h("p", { "data-testid": "update-version" });
  const status = h("div", { class: "update-status", "data-testid": "update-state" });
  const notes = h("div", { class: "update-notes" });
  const check = h("button", { type: "button", "data-testid": "update-check" }, t("updates.check"));
  const install = h("button", { type: "button", class: "primary", "data-testid": "update-install" }, t("updates.install"));
  const show = (v: UpdateView) => {
    version.textContent = t("updates.version", { version: v.current });
    const s = v.state;
    const busy = s.kind === "checking" || s.kind === "downloading" || s.kind === "installing";
    check.disabled = busy || !v.packaged;
    install.hidden = s.kind !== "ready" || !v.packaged;
    status.dataset.state = s.kind;
    status.dataset.checked = String(v.checked_at_ms ?? "");
    status.textContent = v.packaged ? describe(v) : t("updates.not_packaged");
    mount(
      notes,
      s.kind === "ready" && s.notes
        ? h("div", { "data-testid": "update-notes" }, h("h3", {}, t("updates.whats_new", { version: s.version })), h("pre", {}, s.notes))
        : null,
    );
  };
  check.onclick = async () => show(await api.checkUpdate());
  install.onclick = async () => show(await api.installUpdate());
  const unlisten = listen<UpdateView>("update", ({ payload }) => show(payload));
  api.updateStatus().then(show);
  const el = h(
    "fieldset",
    { "data-testid": "updates" },
    h("legend", {}, t("updates.title")),
    version,
    h("label", { class: "toggle" }, auto, t("updates.auto")),
    field(t("updates.endpoint"), endpoint, h("span")),
    status,
    notes,
    h("div", { class: "row" }, check, install),
  );
  return {
    el,
    value: () => ({ auto_check: auto.checked, endpoint: endpoint.value.trim() === "" ? null : endpoint.value.trim() }),
    dispose: () => void unlisten.then((off) => off()),
  };
}

function describe(v: UpdateView): string {
  const s = v.state;
  const checked = v.checked_at_ms ? new Date(v.checked_at_ms).toLocaleString() : "";
  switch (s.kind) {
    case "idle":
      return t("updates.idle");
    case "checking":
      return t("updates.checking");
    case "up-to-date":
      return t("updates.up_to_date", { checked });
    case "downloading": {
      const pct = s.total ? `${Math.floor((s.received / s.total) * 100)} %` : `${Math.round(s.received / 1048576)} MiB`;
      return t("updates.downloading", { version: s.version, progress: pct });
    }
    case "ready":
      return t("updates.ready", { version: s.version });
    case "installing":
      return t("updates.installing", { version: s.version });
    case "failed": {
      const f = s.failure;
      const args = { current: v.current, detail: s.detail, offered: f.reason === "older" ? f.offered : "" };
      return t(`updates.failed_${f.reason.replace("-", "_")}`, args);
    }
  }
}
