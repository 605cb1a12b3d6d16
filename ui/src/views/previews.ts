// A workspace's previews, in its detail view: snapshots of its projects, each running at an
// address of its own until its time is up. The form makes one (from the project's Dockerfile
// or from an image); each row counts down, extends, shares on the LAN and deletes. Rows follow
// engine events; their countdowns tick on activity.ts's one ticker, which stops by itself once
// none is on screen.

import { api } from "../api";
import type { PreviewDefaults } from "../bindings/PreviewDefaults";
import type { PreviewView } from "../bindings/PreviewView";
import { duration, withCountdown } from "../activity";
import { h, mount } from "../dom";
import { errorText, t } from "../i18n";
import { onPreviews } from "../state";
import { confirmDelete, errorLine, field } from "./common";

const HOUR = 3600;
const DAY = 24 * HOUR;
/// The lifetimes offered, plus the default from Settings when it is none of these.
const LIFETIMES = [HOUR, 8 * HOUR, DAY, 3 * DAY, 7 * DAY];

/// `1 hour`, `24 hours`, `3 days`; a default set to something else reads `90 min` or `45 s`.
function lifetime(secs: number): string {
  const count = (unit: string, n: number) => t(`previews.${unit}${n === 1 ? "" : "s"}`, { n });
  if (secs > DAY && secs % DAY === 0) return count("day", secs / DAY);
  if (secs % HOUR === 0) return count("hour", secs / HOUR);
  return secs % 60 === 0 ? `${secs / 60} min` : `${secs} s`;
}

/// Time left as the idle countdowns write it (`42 s`, `23 h 59 min`), and past a day `2 d 23 h`.
function left(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < DAY ? duration(ms) : `${Math.floor(s / DAY)} d ${Math.floor((s % DAY) / HOUR)} h`;
}

export function previewsSection(name: string, wsImage: () => string | undefined): { el: HTMLElement; dispose: () => void } {
  const form = h("form", { class: "preview-form" }); // filled in once the defaults are known
  const error = errorLine("preview-error");
  const list = h("ul", { class: "preview-list" });
  const listError = h("div", { class: "error" });
  const dialog = h("div");
  const rows = new Map<string, { p: PreviewView; el: HTMLElement }>();
  /// Deleted while shown: a late answer (an extend still in flight) must not bring it back.
  const gone = new Set<string>();
  let disposed = false;

  /// Soonest to expire first; rows move only when the order changed (moving blurs a button).
  const place = () => {
    const els = [...rows.values()].sort((a, b) => a.p.expires_at - b.p.expires_at).map((r) => r.el);
    if (!els.length) return mount(list, h("li", { class: "muted", "data-testid": "previews-empty" }, t("previews.empty")));
    if (els.length !== list.children.length || els.some((el, i) => list.children[i] !== el)) mount(list, ...els);
  };
  const put = (p: PreviewView) => {
    if (p.workspace !== name || gone.has(p.id) || disposed) return;
    const el = row(p);
    rows.get(p.id)?.el.replaceWith(el);
    rows.set(p.id, { p, el });
    place();
  };
  const drop = (id: string) => {
    gone.add(id);
    rows.get(id)?.el.remove();
    rows.delete(id);
    place();
  };
  const load = async () => {
    try {
      const all = await api.previews(name);
      if (disposed) return;
      listError.textContent = "";
      rows.clear();
      for (const p of all) if (!gone.has(p.id)) rows.set(p.id, { p, el: row(p) });
      place();
    } catch (err) {
      listError.textContent = errorText(err);
    }
  };

  const row = (p: PreviewView): HTMLElement => {
    const rowError = h("div", { class: "error" });
    const act = (id: string, label: string, fn: () => Promise<unknown>) => {
      const b: HTMLButtonElement = h("button", { type: "button", "data-testid": id }, label);
      b.onclick = async () => {
        b.disabled = true;
        rowError.textContent = "";
        try { await fn(); } catch (err) { rowError.textContent = errorText(err); } finally { b.disabled = false; }
      };
      return b;
    };
    const extend = (secs: number) => async () => put(await api.extendPreview(p.id, secs));
    const askDelete = () =>
      confirmDelete(dialog, t("previews.confirm_title", { id: p.id }), t("previews.confirm_body", { url: p.url }),
        t("previews.confirm_delete"), async () => {
          try {
            await api.removePreview(p.id);
            drop(p.id);
          } catch (err) {
            rowError.textContent = errorText(err);
          }
        });
    const source = p.source.kind === "dockerfile"
      ? t("previews.from_dockerfile")
      : [p.source.image, p.source.command].filter(Boolean).join(" · ");
    const ends = withCountdown("previews.ends_in", {}, p.expires_at * 1000, left);
    ends.dataset.testid = "preview-left";
    return h("li", { class: "preview", "data-testid": "preview-row", "data-id": p.id, "data-status": p.status },
      h("div", { class: "row" },
        h("strong", { class: "mono" }, p.id),
        h("span", { class: `badge ${p.status === "running" ? "running" : "starting"}` }, t(`previews.status_${p.status}`)),
        h("span", { class: "mono" }, p.url),
        h("span", { class: "muted" }, ends)),
      h("div", { class: "muted small mono" }, source),
      h("div", { class: "row" },
        act("preview-open", t("previews.open"), () => api.openPreview(p.id)),
        act("preview-browser", t("previews.open_browser"), () => api.openPreviewInBrowser(p.id)),
        act("preview-extend-hour", t("previews.extend_hour"), extend(HOUR)),
        act("preview-extend-day", t("previews.extend_day"), extend(DAY)),
        act("preview-share", t(p.shared ? "previews.unshare" : "previews.share"), async () => put(await api.sharePreview(p.id, !p.shared))),
        h("button", { type: "button", class: "danger", "data-testid": "preview-delete", onclick: askDelete }, t("previews.delete"))),
      p.shared
        ? h("div", { class: "share" },
          p.share_urls.map((u) => h("div", { class: "mono select-all", "data-testid": "preview-share-url" }, u)),
          h("small", { class: "muted" }, t("previews.share_note")))
        : null,
      rowError);
  };

  const buildForm = (d: PreviewDefaults) => {
    const image = h("input", { "data-testid": "preview-image", spellcheck: "false", value: d.image ?? wsImage() ?? "" });
    const command = h("input", { "data-testid": "preview-command", spellcheck: "false", placeholder: t("previews.command_placeholder"), value: d.command ?? "" });
    const port = h("input", { type: "number", min: "1", max: "65535", "data-testid": "preview-port" });
    const ttl = h("select", { "data-testid": "preview-ttl" },
      [...new Set([...LIFETIMES, d.ttl_secs])].sort((a, b) => a - b).map((s) => h("option", { value: s }, lifetime(s))));
    ttl.value = String(d.ttl_secs);
    const deps = h("input", { type: "checkbox", "data-testid": "preview-deps" });
    const lan = h("input", { type: "checkbox", "data-testid": "preview-lan" });
    const useImage = h("input", { type: "checkbox", "data-testid": "preview-use-image" });
    const imageFields = h("div", { class: "grid2" },
      field(t("previews.image"), image, h("span")),
      field(t("previews.command"), command, h("span")));

    // The port stays in both cases: a Dockerfile without EXPOSE needs it too. The remembered
    // port belongs to the remembered image, so it fills in only for an image.
    const remembered = d.app_port === null ? "" : String(d.app_port);
    const fromImage = () => !d.dockerfile || useImage.checked;
    const sync = () => {
      const img = fromImage();
      imageFields.style.display = img ? "" : "none"; // not `hidden`: the grid's display wins
      port.placeholder = img ? "" : t("previews.port_expose");
      if (img && !port.value) port.value = remembered;
      if (!img && port.value === remembered) port.value = "";
    };
    useImage.addEventListener("change", sync);
    sync();

    const create: HTMLButtonElement = h("button", { type: "submit", class: "primary", "data-testid": "preview-create" }, t("previews.create"));
    const step = h("span");
    const progress = h("div", { class: "progress", "data-testid": "preview-progress" }, h("div", { class: "bar indeterminate" }), step);
    progress.style.display = "none";
    form.onsubmit = async (ev: Event) => {
      ev.preventDefault();
      error.textContent = "";
      create.disabled = true;
      step.textContent = t("previews.creating");
      progress.style.display = "";
      const img = fromImage();
      try {
        put(await api.createPreview({
          workspace: name,
          image: img ? image.value.trim() || null : null,
          command: img ? command.value.trim() || null : null,
          app_port: port.value.trim() === "" ? null : Number(port.value),
          ttl_secs: Number(ttl.value),
          with_deps: deps.checked,
          lan: lan.checked,
        }, (e) => {
          // The engine's and docker build's latest line, in English as they write it.
          if (e.kind === "line") step.textContent = e.text;
        }));
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        create.disabled = false;
        progress.style.display = "none";
      }
    };
    mount(form,
      d.dockerfile
        ? h("div", { class: "row" },
          h("span", { "data-testid": "preview-dockerfile" }, t("previews.dockerfile")),
          h("label", { class: "toggle" }, useImage, t("previews.use_image")))
        : null,
      imageFields,
      h("div", { class: "grid4" },
        field(t("previews.port"), port, h("span")),
        field(t("previews.lifetime"), ttl, h("span")),
        h("div", { class: "checks" },
          h("label", { class: "toggle" }, deps, t("previews.deps")),
          h("label", { class: "toggle" }, lan, t("previews.lan")))),
      progress,
      error,
      h("div", { class: "row" }, create));
  };

  api.previewDefaults(name).then(
    (d) => { if (!disposed) buildForm(d); },
    (err) => {
      error.textContent = errorText(err);
      mount(form, error);
    },
  );
  void load();
  const unsubscribe = onPreviews((news) => {
    if (news.kind === "resync") void load();
    else if (news.kind === "preview") put(news.preview);
    else if (news.workspace === name) drop(news.id);
  });

  return {
    el: h("section", { class: "previews", "data-testid": "previews" },
      h("h2", {}, t("previews.title")),
      h("p", { class: "muted" }, t("previews.explain")),
      form, list, listError, dialog),
    dispose: () => {
      disposed = true;
      unsubscribe();
    },
  };
}
