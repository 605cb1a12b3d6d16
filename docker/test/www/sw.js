// A hostile service worker (see index.html). It answers /made-up with a page of its own
// making, which carries no Content-Security-Policy: the gateway never saw it. That page tries
// to reach the loopback service beside the workspace by fetch, image, frame, worker and
// WebSocket, then goes on to /drag.html?...&sw=ran (the last step). Berth's IDE window blocks
// those loads below the page (WebKit content rules), so the listener must see nothing.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.pathname !== "/made-up") return;
  // The worker's own fetch (its script came with the gateway's CSP; the content rules hold too).
  const neighbour = "http://127.0.0.1:" + (Number(url.port) + 1);
  fetch(neighbour + "/sw-own-fetch", { mode: "no-cors" }).catch(() => {});
  const report = "/drag.html" + url.search + "&sw=ran";
  const page = `<!doctype html><title>made up</title><script>
    const neighbour = "http://127.0.0.1:" + (Number(location.port) + 1);
    fetch(neighbour + "/sw-fetched", { mode: "no-cors" }).catch(() => {});
    new Image().src = neighbour + "/sw-image";
    const frame = document.createElement("iframe");
    frame.src = neighbour + "/sw-framed";
    document.documentElement.appendChild(frame);
    const work = "fetch('" + neighbour + "/sw-worker', { mode: 'no-cors' }).catch(() => {})";
    new Worker(URL.createObjectURL(new Blob([work], { type: "text/javascript" })));
    try { new WebSocket(neighbour.replace("http", "ws") + "/sw-socket"); } catch (_) {}
    setTimeout(() => location.replace(${JSON.stringify(report)}), 1500);
  </scr` + `ipt>`;
  e.respondWith(new Response(page, { headers: { "content-type": "text/html" } }));
});
