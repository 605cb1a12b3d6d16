// One workspace: everything the list shows, plus its previews (views/previews.ts), container
// output (follow on/off), the audit history, edit, restart and delete (with a confirmation that
// names what goes).

import { api } from "../api";
import type { WorkspaceView as Workspace } from "../bindings/WorkspaceView";
import { h, mount } from "../dom";
import { errorText, language, t } from "../i18n";
import type { View } from "../main";
import { go } from "../main";
import { clock, duration, signalText, stateLine } from "../activity";
import { onPreviews, reload, state, upsert } from "../state";
import { actionButtons, confirmDelete, errorLine, field, idleText, progressLine, statusBadge } from "./common";
import { usageLines } from "./keys";
import { previewsSection } from "./previews";

const MIB = 1024 * 1024;

export function detailView(name: string): View {
  const el = h("section", { class: "detail" });
  const header = h("div");
  const info = h("dl");
  const error = errorLine("detail-error");
  const logBox = h("pre", { class: "log", "data-testid": "detail-logs" });
  const followToggle = h("input", { type: "checkbox", checked: true, "data-testid": "logs-follow" });
  const audit = h("ol", { class: "timeline", "data-testid": "detail-audit" });
  const dialog = h("div");
  let followId: number | null = null;
  let disposed = false;

  const ws = () => state.workspaces.get(name);
  const previews = previewsSection(name, () => ws()?.image);
  const activityBox = h("dd", { "data-testid": "detail-activity" });
  const usageBox = h("dd");

  // Where it stands on idleness and each signal's last time; looked up again every 5 s while
  // this view is open (signals change too often to be pushed one by one).
  const loadActivity = async () => {
    const usage = ws()?.keys.length ? await api.usage(name).catch(() => null) : null;
    if (usage && !disposed) mount(usageBox, usageLines(usage));
    const a = await api.activity(name).catch(() => null);
    if (!a || disposed) return;
    // Kept for the list without announcing a change: a redraw every 5 s would replace the
    // buttons under the user's pointer. Warnings reach the banners as events anyway.
    state.activity.set(a.name, a);
    mount(
      activityBox,
      h("div", { "data-state": a.state }, stateLine(a)),
      a.snoozed_until_ms ? h("small", { class: "muted block" }, t("activity.snoozed", { time: clock(a.snoozed_until_ms) })) : null,
      a.signals.length
        ? h("ul", { class: "signals", "data-testid": "detail-signals" },
          a.signals.map((s) => h("li", { "data-signal": s.signal }, h("span", {}, signalText(s)), h("small", { class: "muted" }, t("activity.ago", { ago: duration(a.now_ms - s.at_ms) })))))
        : null,
    );
  };
  const activityTimer = window.setInterval(() => void loadActivity(), 5000);

  const stopFollowing = async () => {
    if (followId !== null) await api.stopLogs(followId).catch(() => {});
    followId = null;
  };
  const startLogs = async () => {
    await stopFollowing();
    logBox.textContent = "";
    try {
      const id = await api.followLogs(name, followToggle.checked, (chunk) => {
        logBox.append(h("span", { class: chunk.stderr ? "stderr" : "" }, chunk.text));
        logBox.scrollTop = logBox.scrollHeight;
      });
      if (disposed) void api.stopLogs(id);
      else followId = id;
    } catch {
      logBox.textContent = t("detail.no_logs");
    }
  };
  followToggle.addEventListener("change", startLogs);

  const loadAudit = async () => {
    const entries = await api.audit(name).catch(() => []);
    const fmt = new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "medium" });
    mount(
      audit,
      ...entries.reverse().map((e) =>
        h("li", { class: e.outcome }, h("time", {}, fmt.format(new Date(e.at_ms))), h("strong", {}, t(`audit.${e.action}`)), h("span", {}, e.detail)),
      ),
    );
  };

  const editForm = (w: Workspace) => {
    const description = h("textarea", { rows: 2, value: w.description });
    description.value = w.description;
    const cpus = h("input", { type: "number", step: "0.5", value: w.limits.cpus ?? "" });
    const memory = h("input", { type: "number", step: "256", value: w.limits.memory_bytes ? w.limits.memory_bytes / MIB : "" });
    const pids = h("input", { type: "number", step: "64", value: w.limits.pids ?? "" });
    const idle = h("input", { type: "number", step: "5", value: w.idle_timeout_secs ? w.idle_timeout_secs / 60 : "" });
    const formError = errorLine("edit-error");
    const num = (i: HTMLInputElement) => (i.value.trim() === "" ? null : Number(i.value));
    return h(
      "form",
      {
        class: "card",
        "data-testid": "edit-form",
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          try {
            const mem = num(memory);
            const idleMin = num(idle);
            upsert(await api.edit(name, {
              description: description.value,
              limits: { cpus: num(cpus), memory_bytes: mem === null ? null : mem * MIB, pids: num(pids) },
              idle_timeout_secs: idleMin === null ? null : idleMin * 60,
            }));
            void loadAudit();
          } catch (err) {
            formError.textContent = errorText(err);
          }
        },
      },
      field(t("create.description"), description, h("span")),
      h("div", { class: "grid4" },
        field(t("create.cpus"), cpus, h("span")),
        field(t("create.memory_mib"), memory, h("span")),
        field(t("create.pids"), pids, h("span")),
        field(t("create.idle_timeout"), idle, h("span"))),
      formError,
      h("div", { class: "row" },
        h("button", { class: "primary", type: "submit" }, t("detail.save")),
        h("button", { type: "button", onclick: () => refresh() }, t("detail.cancel"))),
    );
  };

  const askDelete = (w: Workspace) =>
    confirmDelete(dialog, t("detail.confirm_title", { name: w.name }),
      t("detail.confirm_body", { container: w.container_name, network: w.network_name, port: w.port ?? "—" }),
      t("detail.confirm_delete"), async () => {
        try {
          await stopFollowing();
          await api.remove(name);
          await reload();
          go("#/");
        } catch (err) {
          error.textContent = errorText(err);
        }
      });

  const refresh = () => {
    const w = ws();
    if (!w) return mount(el, h("p", {}, t("errors.workspace_not_found", { name })), h("a", { href: "#/" }, t("detail.back")));
    renderHeader(w);
    renderInfo(w);
  };

  const renderHeader = (w: Workspace) => {
    const run = (fn: () => Promise<unknown>) => async () => {
      error.textContent = "";
      try { await fn(); } catch (err) { error.textContent = errorText(err); }
    };
    mount(
      header,
      h("a", { href: "#/", class: "back" }, `← ${t("detail.back")}`),
      h("h1", {}, w.name, " ", statusBadge(w)),
      w.description ? h("p", { class: "muted" }, w.description) : null,
      progressLine(w.name),
      h("div", { class: "row" },
        actionButtons(w, error),
        h("button", { onclick: run(() => api.openInBrowser(name)) }, t("detail.open_browser")),
        h("button", { "data-testid": "detail-restart", onclick: run(() => api.restart(name)) }, t("detail.restart")),
        h("button", { "data-testid": "detail-edit", onclick: () => mount(info, editForm(w)) }, t("detail.edit")),
        h("button", { class: "danger", "data-testid": "detail-delete", onclick: () => askDelete(w) }, t("detail.delete"))),
      error,
    );
  };

  const renderInfo = (w: Workspace) => {
    const url = w.url ?? "—";
    mount(
      info,
      h("dt", {}, t("detail.address")), h("dd", { class: "mono" }, url),
      h("dt", {}, t("list.image")), h("dd", { class: "mono" }, w.image),
      h("dt", {}, t("list.projects")), h("dd", { class: "mono" }, w.projects.map((p) => h("div", {}, p))),
      h("dt", {}, t("detail.container")), h("dd", { class: "mono" }, w.container_name),
      h("dt", {}, t("detail.limits")),
      h("dd", {}, w.limits.cpus || w.limits.memory_bytes || w.limits.pids
        ? t("detail.limits_value", { cpus: w.limits.cpus ?? "—", memory: w.limits.memory_bytes ? w.limits.memory_bytes / MIB : "—", pids: w.limits.pids ?? "—" })
        : t("detail.limits_default")),
      h("dt", {}, t("list.idle")), h("dd", {}, idleText(w)),
      w.keys.length ? h("dt", {}, t("keys.detail_title")) : null, w.keys.length ? usageBox : null,
      h("dt", {}, t("activity.title")), activityBox,
    );
    void loadActivity();
    void loadAudit();
  };

  mount(
    el,
    header,
    info,
    previews.el,
    h("div", { class: "panels" },
      h("section", {},
        h("h2", {}, t("detail.logs"), h("label", { class: "toggle" }, followToggle, t("detail.follow"))),
        logBox),
      h("section", {}, h("h2", {}, t("detail.audit")), audit)),
    dialog,
  );
  if (ws()) refresh();
  else void api.get(name).then(upsert, () => refresh());
  void startLogs();
  // A preview made, extended, shared or gone is a line in this workspace's history.
  const unwatchPreviews = onPreviews((news) => {
    const of = news.kind === "preview" ? news.preview.workspace : news.kind === "preview_removed" ? news.workspace : name;
    if (of === name) void loadAudit();
  });
  return {
    el,
    // Status changes redraw the header; the log stream and an open edit form stay.
    refresh: () => {
      const w = ws();
      if (!w || !info.querySelector("form")) return refresh();
      renderHeader(w);
    },
    dispose: () => {
      disposed = true;
      window.clearInterval(activityTimer);
      previews.dispose();
      unwatchPreviews();
      void stopFollowing();
    },
  };
}
