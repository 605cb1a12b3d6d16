// Create a workspace. Name and folders are checked by the engine as you go (same rules as
// the CLI); whatever the engine refuses on submit is shown next to the field it is about.

import { open } from "@tauri-apps/plugin-dialog";
import { api } from "../api";
import type { Error as BerthError } from "../bindings/Error";
import type { ImageEntry } from "../bindings/ImageEntry";
import { h, mount } from "../dom";
import { errorText, t } from "../i18n";
import type { View } from "../main";
import { go } from "../main";
import { reload } from "../state";
import { errorLine, field } from "./common";
import { keyChoice } from "./keys";

const MIB = 1024 * 1024;

function numberOrNull(input: HTMLInputElement): number | null {
  const v = input.value.trim();
  return v === "" ? null : Number(v);
}

export function createView(): View {
  const el = h("section", { class: "create" });
  const errors = {
    name: errorLine("create-name-error"),
    image: errorLine("create-image-error"),
    projects: errorLine("create-project-error"),
    form: errorLine("create-form-error"),
  };
  const name = h("input", { "data-testid": "create-name", autocomplete: "off", spellcheck: "false" });
  const description = h("textarea", { "data-testid": "create-description", rows: 2 });
  const image = h("select", { "data-testid": "create-image" });
  const imageTools = h("div", { class: "image-tools" });
  const projects: string[] = [];
  const projectList = h("ul", { class: "projects", "data-testid": "create-projects" });
  const pathInput = h("input", { "data-testid": "project-path", placeholder: t("create.path_placeholder"), spellcheck: "false" });
  const cpus = h("input", { type: "number", step: "0.5", min: "0.1", "data-testid": "create-cpus" });
  const memory = h("input", { type: "number", step: "256", min: "16", "data-testid": "create-memory" });
  const pids = h("input", { type: "number", step: "64", min: "16", "data-testid": "create-pids" });
  const idle = h("input", { type: "number", step: "5", min: "0", "data-testid": "create-idle" });
  const submit = h("button", { class: "primary", type: "submit", "data-testid": "create-submit" }, t("create.submit"));
  const keys = keyChoice();

  let nameTimer = 0;
  name.addEventListener("input", () => {
    clearTimeout(nameTimer);
    nameTimer = window.setTimeout(async () => {
      try {
        await api.checkName(name.value);
        errors.name.textContent = "";
      } catch (err) {
        errors.name.textContent = errorText(err);
      }
    }, 150);
  });

  const renderProjects = () =>
    mount(
      projectList,
      ...projects.map((p, i) =>
        h("li", {}, h("span", { class: "mono" }, p),
          h("button", { type: "button", class: "link", onclick: () => { projects.splice(i, 1); renderProjects(); } }, t("create.remove"))),
      ),
    );
  const addProject = async (raw: string) => {
    try {
      const canonical = await api.checkProject(raw);
      if (projects.includes(canonical)) throw { key: "project_twice", args: { path: canonical } };
      projects.push(canonical);
      errors.projects.textContent = "";
      pathInput.value = "";
      renderProjects();
    } catch (err) {
      errors.projects.textContent = errorText(err);
    }
  };
  const browse = async () => {
    const chosen = await open({ directory: true, multiple: true });
    for (const p of Array.isArray(chosen) ? chosen : chosen ? [chosen] : []) await addProject(p);
  };

  const renderImages = (images: ImageEntry[]) => {
    mount(
      image,
      ...images.map((i) =>
        h("option", { value: i.reference },
          i.bundled ? `${i.reference} — ${t("create.bundled")}${i.built ? "" : `, ${t("create.not_built")}`}` : i.reference),
      ),
    );
    const updateTools = () => {
      const chosen = images.find((i) => i.reference === image.value);
      if (!chosen?.bundled || chosen.built) return mount(imageTools);
      const bar = h("progress", { max: 1, value: 0, "data-testid": "build-progress" });
      const log = h("pre", { class: "log small" });
      const build = h("button", { type: "button", "data-testid": "build-image" }, t("create.build"));
      build.addEventListener("click", async () => {
        build.disabled = true;
        mount(imageTools, h("div", {}, t("create.building", { image: chosen.reference })), bar, log);
        try {
          await api.buildImage(chosen.bundled!, (e) => {
            if (e.kind === "step") { bar.max = e.total; bar.value = e.current; }
            else { log.textContent += `${e.text}\n`; log.scrollTop = log.scrollHeight; }
          });
          mount(imageTools, h("div", {}, t("create.built", { image: chosen.reference })));
          renderImages(await api.images());
        } catch (err) {
          errors.image.textContent = errorText(err);
          build.disabled = false;
        }
      });
      mount(imageTools, build);
    };
    image.onchange = updateTools;
    const firstBundled = images.find((i) => i.bundled);
    if (firstBundled && !image.value) image.value = firstBundled.reference;
    updateTools();
  };
  api.images().then(renderImages, (err) => (errors.image.textContent = errorText(err)));

  const showError = (err: unknown) => {
    const key = (err as Partial<BerthError>).key ?? "";
    const slot = key.startsWith("name")
      ? errors.name
      : key.startsWith("image")
        ? errors.image
        : key.startsWith("project")
          ? errors.projects
          : errors.form;
    slot.textContent = errorText(err);
  };

  const form = h(
    "form",
    {
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        Object.values(errors).forEach((e) => (e.textContent = ""));
        // A typed path not yet added counts as chosen.
        if (pathInput.value.trim()) await addProject(pathInput.value.trim());
        if (errors.projects.textContent) return;
        submit.disabled = true;
        submit.textContent = t("create.creating");
        try {
          const mem = numberOrNull(memory);
          const idleMin = numberOrNull(idle);
          const ws = await api.create({
            name: name.value,
            image: image.value,
            projects: [...projects],
            description: description.value,
            limits: { cpus: numberOrNull(cpus), memory_bytes: mem === null ? null : mem * MIB, pids: numberOrNull(pids) },
            idle_timeout_secs: idleMin === null ? null : idleMin * 60,
            keys: keys.chosen(),
          });
          await reload();
          go("#/");
          // A workspace is made to be used: start it right away (progress shows in the list).
          api.start(ws.name).catch(() => reload());
        } catch (err) {
          showError(err);
        } finally {
          submit.disabled = false;
          submit.textContent = t("create.submit");
        }
      },
    },
    h("h1", {}, t("create.title")),
    field(t("create.name"), name, errors.name, t("create.name_hint")),
    field(t("create.description"), description, errorLine("create-description-error")),
    field(t("create.image"), h("div", {}, image, imageTools), errors.image),
    h(
      "fieldset",
      {},
      h("legend", {}, t("create.projects")),
      h("small", {}, t("create.projects_hint")),
      projectList,
      h("div", { class: "row" },
        h("button", { type: "button", "data-testid": "project-browse", onclick: browse }, t("create.browse")),
        pathInput,
        h("button", { type: "button", "data-testid": "project-add", onclick: () => addProject(pathInput.value.trim()) }, t("create.add"))),
      errors.projects,
    ),
    h(
      "fieldset",
      { class: "limits" },
      h("legend", {}, t("create.limits")),
      h("small", {}, t("create.defaults_hint")),
      h("div", { class: "grid4" },
        field(t("create.cpus"), cpus, h("span")),
        field(t("create.memory_mib"), memory, h("span")),
        field(t("create.pids"), pids, h("span")),
        field(t("create.idle_timeout"), idle, h("span"))),
    ),
    keys.el,
    errors.form,
    h("div", { class: "row" }, submit),
  );
  mount(el, form);
  setTimeout(() => name.focus(), 0);
  return { el };
}
