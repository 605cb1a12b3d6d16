// Boot and routing. Routes live in the URL hash so WebDriver and reloads land where they were:
// #/ (list), #/new, #/w/<name>, #/resources, #/settings.

import { api } from "./api";
import { h, mount } from "./dom";
import { withCountdown } from "./activity";
import { errorText, setLanguage, t } from "./i18n";
import { changed, listenToEngine, onChange, reload, setActivity, state } from "./state";
import { createView } from "./views/create";
import { detailView } from "./views/detail";
import { listView } from "./views/list";
import { resourcesView } from "./views/resources";
import { settingsView } from "./views/settings";

/// Each view returns its element and an optional cleanup (stop following logs, ...).
export type View = { el: HTMLElement; dispose?: () => void; refresh?: () => void };

let currentView: View | null = null;

export function go(route: string) {
  if (location.hash === route) render();
  else location.hash = route;
}

function route(): View {
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (hash === "/new") return createView();
  if (hash === "/settings") return settingsView();
  if (hash === "/resources") return resourcesView();
  const ws = hash.match(/^\/w\/(.+)$/);
  if (ws) return detailView(ws[1]);
  return listView();
}

function nav(): HTMLElement {
  const hash = location.hash || "#/";
  const link = (href: string, key: string, id: string) =>
    h("a", { href, class: hash === href ? "active" : "", "data-testid": id }, t(key));
  return h(
    "nav",
    {},
    h("div", { class: "brand" }, h("strong", {}, t("app.title")), h("small", {}, t("app.tagline"))),
    link("#/", "nav.workspaces", "nav-list"),
    link("#/new", "nav.create", "nav-create"),
    link("#/resources", "nav.resources", "nav-resources"),
    link("#/settings", "nav.settings", "nav-settings"),
  );
}

/// Docker gone, and every workspace about to stop for idleness (with "Keep running").
const banners = h("div", { class: "banners" });

function renderBanners() {
  const docker = state.dockerLost
    ? h("div", { class: "banner", "data-testid": "docker-banner" }, t("banner.docker_lost", { message: state.dockerLost }))
    : null;
  const warned = [...state.activity.values()].filter((a) => a.state === "warned");
  mount(
    banners,
    docker,
    ...warned.map((a) => {
      const error = h("span", { class: "error" });
      return h(
        "div",
        { class: "banner warn", "data-testid": `idle-banner-${a.name}` },
        a.state === "warned" ? withCountdown("activity.banner", { name: a.name }, a.stops_at_ms) : null,
        h("button", {
          "data-testid": `idle-keep-${a.name}`,
          onclick: async () => {
            try {
              setActivity(await api.snooze(a.name));
            } catch (err) {
              error.textContent = errorText(err);
            }
          },
        }, t("activity.keep_running")),
        error,
      );
    }),
  );
}

export function render() {
  currentView?.dispose?.();
  currentView = route();
  const app = document.getElementById("app")!;
  renderBanners();
  mount(app, nav(), h("main", {}, banners, currentView.el));
}

async function boot() {
  const settings = await api.settings().catch(() => null);
  setLanguage(settings?.language ?? null);
  window.addEventListener("hashchange", render);
  // Status changes re-render only the parts that show them (views keep their own inputs).
  onChange(() => {
    renderBanners();
    currentView?.refresh?.();
  });
  await listenToEngine();
  render();
  await reload();
  changed();
}

void boot();
