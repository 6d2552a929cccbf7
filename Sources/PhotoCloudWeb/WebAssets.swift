/// The page's style and script, served by the binary itself (no build step,
/// no CDN): `/app.css` and `/app.js`.
enum WebAssets {
    static let css = """
        :root { color-scheme: light dark; --accent: #c2185b; --line: #8884; --card: #8881; font: 16px/1.45 system-ui, sans-serif; }
        * { box-sizing: border-box; }
        body { margin: 0; }
        header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; color: var(--accent); }
        .who { opacity: .75; }
        nav { display: flex; gap: .25rem; flex-wrap: wrap; margin-left: auto; }
        nav a { padding: .35rem .7rem; border-radius: 1rem; text-decoration: none; color: inherit; }
        nav a[aria-current=page] { background: var(--accent); color: white; }
        main { padding: 1rem; max-width: 70rem; margin: 0 auto; }
        h1 { font-size: 1.5rem; margin: .3rem 0 1rem; }
        h2 { font-size: 1.1rem; margin: .4rem 0; overflow-wrap: anywhere; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .8rem; margin-bottom: 1rem; }
        .grid { list-style: none; padding: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
        .list, .people { list-style: none; padding: 0; }
        .list > li, .people > li { padding: .5rem 0; border-bottom: 1px solid var(--line); }
        .list > li.card { padding: .8rem; }
        .photo img { width: 100%; height: auto; border-radius: .4rem; background: #8882; }
        .viewer img { max-width: 100%; height: auto; image-rendering: auto; }
        .viewer { margin: 0; }
        .meta { opacity: .75; font-size: .9rem; }
        .empty { opacity: .75; font-style: italic; }
        form { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .4rem 0; }
        #share { flex-direction: column; align-items: stretch; max-width: 30rem; }
        input, button { font: inherit; padding: .4rem .6rem; border-radius: .4rem; border: 1px solid var(--line); min-width: 0; max-width: 100%; }
        input[type=number] { width: 6rem; }
        button { background: var(--accent); color: white; border-color: transparent; cursor: pointer; }
        button.quiet { background: transparent; color: inherit; border-color: var(--line); }
        :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
        table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
        caption { text-align: left; font-weight: 600; }
        th, td { text-align: left; padding: .25rem; border-bottom: 1px solid var(--line); }
        td form { margin: 0; }
        .note { margin: .6rem 1rem 0; padding: .5rem .8rem; border-left: 4px solid var(--accent); background: var(--card); }
        .refused { font-weight: 600; color: var(--accent); }
        #news:not(:empty) { margin: .6rem 1rem 0; padding: .5rem .8rem; border-radius: .4rem; background: var(--accent); color: white; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 1rem; top: .5rem; background: white; color: black; padding: .3rem .6rem; }
        @media (max-width: 30rem) { nav { margin-left: 0; width: 100%; } main { padding: .6rem; } .grid { grid-template-columns: 1fr; } }
        """

    /// Uploads a photo as the request's body (no multipart parsing on the
    /// daemon); follows the daemon's news (server-sent events) and redraws
    /// the page's list when something arrives.
    static let js = """
        "use strict";
        const share = document.getElementById("share");
        if (share) {
          share.addEventListener("submit", async (event) => {
            event.preventDefault();
            const file = document.getElementById("file").files[0];
            if (!file) return;
            const title = document.getElementById("title").value || file.name.replace(/\\.[^.]*$/, "");
            const button = share.querySelector("button");
            button.disabled = true;
            button.textContent = "Sharing…";
            try {
              const response = await fetch("/album/share?title=" + encodeURIComponent(title), {
                method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
              if (response.ok && response.redirected) { location.assign(response.url); return; }
              // Refused (not a photo, too large): the daemon's words, on this page.
              const page = new DOMParser().parseFromString(await response.text(), "text/html");
              const refusal = page.querySelector("[role=alert], p");
              throw new Error(refusal ? refusal.textContent : "status " + response.status);
            } catch (error) {
              button.disabled = false;
              button.textContent = "Share";
              document.getElementById("news").textContent = "Not shared: " + error.message;
            }
          });
        }
        const said = { photo: "A photo arrived", request: "A request arrived", grant: "Views changed", answer: "A request was answered" };
        if (document.body.dataset.live === "true" && window.EventSource) {
          const events = new EventSource("/events");
          for (const kind of Object.keys(said)) {
            events.addEventListener(kind, async (event) => {
              const news = document.getElementById("news");
              let from = "";
              try { from = JSON.parse(event.data).from || ""; } catch (_) {}
              // News of the last few seconds stays, the newest first (a photo and its request's answer come together).
              const line = said[kind] + (from ? " from " + from : "");
              news.textContent = Date.now() - (news.dataset.at || 0) < 4000 ? line + " · " + news.textContent : line;
              news.dataset.at = Date.now();
              if (document.activeElement && document.activeElement.matches("input")) return;
              const response = await fetch(location.pathname + location.search);
              if (!response.ok) return;
              const page = new DOMParser().parseFromString(await response.text(), "text/html");
              const main = page.getElementById("main");
              if (main) document.getElementById("main").replaceChildren(...main.childNodes);
            });
          }
        }
        """
}
