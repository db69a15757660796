/* Live sending progress: every `[data-campaign-progress]` section on a page (one on an
 * alert's page, one per alert going out on the dashboard) asks GET /api/campaigns/{id}
 * every few seconds while its alert is sending or paused, and redraws its own figures.
 *
 * Progressive enhancement only: without this script the figures are the ones made when
 * the page loaded. The request carries the page's session cookie alone; nothing is
 * loaded from anywhere else.
 *
 * What a section may hold (each optional, so a compact section shows less):
 * - `data-progress-field="handled|total|percent|sent|queued|sending|failed|suppressed|rate"`
 * - a <progress> bar, `data-progress-sentence` (a live region), `data-progress-hint`.
 * Its attributes: `data-endpoint`, `data-status`, and JSON `data-sentences`,
 * `data-status-labels`, `data-status-tones`; `data-reload-url` and `data-reload-label`
 * for the link shown when the alert's status changes (this page, "Reload the page", by
 * default). Status badges (`[data-campaign-status-badge] .badge`) and texts
 * (`[data-campaign-status-text]`) follow the status: those inside the nearest
 * `[data-progress-scope]` around the section, else the page's. */
(function () {
  "use strict";

  const POLL_INTERVAL = 2000; // milliseconds
  const LIVE_STATUSES = ["sending", "paused"];

  function number(value) {
    return Number(value).toLocaleString("en");
  }

  function setUpProgress(section) {
    const endpoint = section.dataset.endpoint;
    let status = section.dataset.status;
    if (!endpoint || !LIVE_STATUSES.includes(status)) return;
    const initialStatus = status;
    const sentences = JSON.parse(section.dataset.sentences || "{}");
    const statusLabels = JSON.parse(section.dataset.statusLabels || "{}");
    const statusTones = JSON.parse(section.dataset.statusTones || "{}");
    const scope = section.closest("[data-progress-scope]") || document;
    const bar = section.querySelector("progress");
    const sentence = section.querySelector("[data-progress-sentence]");
    const hint = section.querySelector("[data-progress-hint]");
    const reloadUrl = section.dataset.reloadUrl || location.pathname;
    const reloadLabel = section.dataset.reloadLabel || "Reload the page";
    let timer = null;
    let failures = 0;

    function setText(name, text) {
      const node = section.querySelector('[data-progress-field="' + name + '"]');
      if (node && node.textContent !== text) node.textContent = text;
    }

    // The line under the figures, rewritten only when it changes (a link someone is
    // about to follow stays where it is).
    let hintShown = null;
    function setHint(words, withReloadLink) {
      const key = (withReloadLink ? "reload:" : "") + words;
      if (!hint || key === hintShown) return;
      hintShown = key;
      if (!withReloadLink) {
        hint.textContent = words;
        return;
      }
      // On the alert's page the link leaves out ?done=..., said once already.
      const link = document.createElement("a");
      link.textContent = reloadLabel;
      link.href = reloadUrl;
      hint.replaceChildren(link, document.createTextNode(" " + words));
    }

    function showFigures(progress) {
      const total = Number(progress.total) || 0;
      const handled =
        (Number(progress.sent) || 0) +
        (Number(progress.failed) || 0) +
        (Number(progress.suppressed) || 0);
      // Rounded down, as on the server: 100% only when every message is handled.
      const percent = total ? Math.floor((handled * 100) / total) : 100;
      setText("handled", number(handled));
      setText("total", number(total));
      setText("percent", String(percent));
      ["sent", "queued", "sending", "failed", "suppressed"].forEach((name) =>
        setText(name, number(progress[name] || 0))
      );
      setText(
        "rate",
        Number(progress.rate || 0).toLocaleString("en", {
          minimumFractionDigits: 1,
          maximumFractionDigits: 1,
        })
      );
      if (bar) {
        bar.max = total || 1;
        bar.value = total ? handled : 1;
        bar.textContent = percent + "%";
      }
    }

    function showStatus(next) {
      if (next === status) return;
      status = next;
      section.dataset.status = next;
      const words = statusLabels[next] || next;
      scope.querySelectorAll("[data-campaign-status-badge] .badge").forEach((badge) => {
        badge.className = "badge badge--" + (statusTones[next] || "neutral");
        badge.textContent = words;
      });
      scope.querySelectorAll("[data-campaign-status-text]").forEach((node) => {
        node.textContent = words;
      });
      // The live region: said once, when the status changes.
      if (sentence) sentence.textContent = sentences[next] || words + ".";
    }

    function schedule(delay) {
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, delay);
    }

    async function poll() {
      timer = null;
      if (document.hidden) return; // picked up again on visibilitychange
      let response;
      try {
        response = await fetch(endpoint, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
      } catch (error) {
        response = null;
      }
      if (response && (response.status === 401 || response.status === 403 || response.status === 404)) {
        // Signed out, or the alert is gone: asking again will not help.
        setHint("to see where the alert stands.", true);
        return;
      }
      const answer = response && response.ok ? await response.json().catch(() => null) : null;
      if (!answer || typeof answer.status !== "string") {
        failures += 1;
        setHint("The figures could not be updated just now; trying again.", false);
        schedule(Math.min(POLL_INTERVAL * 2 ** failures, 30000));
        return;
      }
      failures = 0;
      if (answer.progress) showFigures(answer.progress);
      showStatus(answer.status);
      if (!LIVE_STATUSES.includes(status)) {
        setHint("to see the final figures and what can be done now.", true);
        return; // finished or cancelled: nothing more will change
      }
      if (status !== initialStatus) {
        setHint("to see what can be done now. These figures update every few seconds.", true);
      } else {
        setHint("These figures update every few seconds.", false);
      }
      schedule(POLL_INTERVAL);
    }

    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer === null && LIVE_STATUSES.includes(status)) poll();
    });
    setHint("These figures update every few seconds.", false);
    schedule(POLL_INTERVAL);
  }

  document.querySelectorAll("[data-campaign-progress]").forEach(setUpProgress);
})();
