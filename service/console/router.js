// Hash routing in one page: #/gallery (default), #/walk, #/jobs, #/jobs/<id>, #/models.
//
// Each page is a <section id="page-NAME"> in index.html and a module with
// `enter(params)` and optional `leave()`; leaving a page stops its timers and streams.

const NAV = { gallery: "nav-gallery", walk: "nav-walk", jobs: "nav-jobs", job: "nav-jobs", models: "nav-models" };

export function parseHash(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "gallery", params: {} };
  const [first, second] = parts;
  if (first === "jobs" && second) return { page: "job", params: { id: second } };
  if (parts.length === 1 && first in NAV && first !== "job") return { page: first, params: {} };
  return { page: "missing", params: {} };
}

export function startRouter(pages, { onChange } = {}) {
  let current = null;

  async function route() {
    const { page, params } = parseHash(location.hash);
    if (current && current.module && current.module.leave) {
      try {
        current.module.leave();
      } catch (err) {
        console.error(err);
      }
    }
    for (const section of document.querySelectorAll("main > .page")) {
      section.hidden = section.id !== `page-${page}`;
    }
    for (const id of new Set(Object.values(NAV))) {
      const link = document.getElementById(id);
      if (id === NAV[page]) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const module = pages[page];
    current = { page, module };
    if (onChange) onChange(page);
    if (module && module.enter) await module.enter(params);
  }

  window.addEventListener("hashchange", route);
  return route();
}
