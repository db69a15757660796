/* Action alerts: language tabs, the live audience count on the alert form, and the
 * live sending progress on the campaign page.
 *
 * Progressive enhancement only: without this script every language is shown one under
 * the other, and the figures are the ones made when the page loaded. The count asks the
 * same endpoint as API clients (POST /api/audiences/preview) with the page's session
 * cookie and its CSRF token; the progress reads GET /api/campaigns/{id} with the
 * cookie alone. Nothing is loaded from anywhere else. */
(function () {
  "use strict";

  // --- tabs ---------------------------------------------------------------------------

  function isEmptyVariant(panel) {
    return Array.from(panel.querySelectorAll("input, textarea")).every(
      (field) => field.value.trim() === ""
    );
  }

  function setUpTabs(container) {
    const panels = Array.from(container.children).filter((el) =>
      el.classList.contains("tabs__panel")
    );
    if (panels.length === 0) return;
    const list = document.createElement("div");
    list.className = "tabs__list";
    list.setAttribute("role", "tablist");
    if (container.dataset.tabsLabel) list.setAttribute("aria-label", container.dataset.tabsLabel);

    const tabs = panels.map((panel) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.className = "tabs__tab";
      tab.id = panel.id + "-tab";
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", panel.id);
      const name = document.createElement("span");
      name.textContent = panel.dataset.tabLabel || panel.id;
      tab.appendChild(name);
      if (panel.dataset.language) {
        // Which languages are written: "(empty)" ones are left out when saved.
        const state = document.createElement("span");
        state.className = "tabs__state";
        tab.appendChild(state);
        const refresh = () => {
          state.textContent = isEmptyVariant(panel) ? " (empty)" : "";
        };
        panel.addEventListener("input", refresh);
        refresh();
      }
      if (panel.hasAttribute("data-tab-invalid")) {
        tab.classList.add("tabs__tab--invalid");
        const mark = document.createElement("span");
        mark.className = "tabs__state";
        mark.textContent = " (to correct)";
        tab.appendChild(mark);
      }
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
      panel.tabIndex = 0;
      list.appendChild(tab);
      return tab;
    });
    container.insertBefore(list, panels[0]);
    container.classList.add("tabs--ready");

    function select(index, focus) {
      tabs.forEach((tab, i) => {
        const selected = i === index;
        tab.setAttribute("aria-selected", selected ? "true" : "false");
        tab.tabIndex = selected ? 0 : -1;
        panels[i].hidden = !selected;
      });
      if (focus) tabs[index].focus();
    }

    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(index, false));
      tab.addEventListener("keydown", (event) => {
        const last = tabs.length - 1;
        const moves = {
          ArrowRight: index === last ? 0 : index + 1,
          ArrowLeft: index === 0 ? last : index - 1,
          Home: 0,
          End: last,
        };
        if (event.key in moves) {
          event.preventDefault();
          select(moves[event.key], true);
        }
      });
    });

    // Open the first language with an error, else the default language, else the first.
    let initial = panels.findIndex((panel) => panel.hasAttribute("data-tab-invalid"));
    if (initial < 0) {
      const form = container.closest("form");
      const chosen = form && form.elements.namedItem("default_language");
      const language = chosen && "value" in chosen ? chosen.value : null;
      initial = panels.findIndex((panel) => panel.dataset.language === language);
    }
    select(initial < 0 ? 0 : initial, false);
    // A link or error summary pointing into a hidden panel opens it, and shows the field.
    window.addEventListener("hashchange", () => openTarget(location.hash, true));
    openTarget(location.hash, false);

    function openTarget(hash, focus) {
      const target = targetOf(hash);
      const index = panels.findIndex((panel) => target && panel.contains(target));
      if (index < 0) return;
      select(index, false);
      if (focus) {
        target.scrollIntoView({ block: "center" });
        target.focus({ preventScroll: true });
      }
    }
  }

  function targetOf(hash) {
    if (!hash || hash.length < 2) return null;
    try {
      return document.getElementById(decodeURIComponent(hash.slice(1)));
    } catch (error) {
      return null;
    }
  }

  // A link to a closed <details> (the token list) opens it.
  function openDetailsOnLink(event) {
    const link = event.target.closest && event.target.closest('a[href^="#"]');
    const target = link && targetOf(link.getAttribute("href"));
    if (target && target.tagName === "DETAILS") target.open = true;
  }

  // --- the live audience count ----------------------------------------------------------

  const LIST_FIELDS = [
    "regions",
    "countries",
    "rome_statute_status",
    "apic_status",
    "kampala_status",
    "implementing_legislation",
    "organization_types",
    "membership_status",
    "languages",
    "contact_roles",
    "topics",
  ];

  // The same reading of "Victims rights, legislation" as the server's form handler.
  function focusAreaTags(text) {
    const tags = [];
    (text || "").split(",").forEach((part) => {
      const tag = part.trim().toLowerCase().replace(/\s+/g, "-");
      if (tag && !tags.includes(tag)) tags.push(tag);
    });
    return tags;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function number(value) {
    return Number(value).toLocaleString("en");
  }

  function setUpAudienceCount(form) {
    const panel = form.querySelector("[data-audience-panel]");
    if (!panel) return;
    const result = panel.querySelector("[data-audience-result]");
    const status = panel.querySelector("[data-audience-status]");
    const regionNames = JSON.parse(panel.dataset.regionNames || "{}");
    const exclusionLabels = JSON.parse(panel.dataset.exclusionLabels || "{}");
    const languageNames =
      typeof Intl !== "undefined" && Intl.DisplayNames
        ? new Intl.DisplayNames(["en"], { type: "language" })
        : null;
    let timer = null;
    let sequence = 0;
    let lastSent = null;

    function languageName(code) {
      try {
        return (languageNames && languageNames.of(code)) || code;
      } catch (error) {
        return code;
      }
    }

    function payload() {
      const data = new FormData(form);
      const body = {};
      LIST_FIELDS.forEach((name) => {
        body[name] = data
          .getAll(name)
          .map((value) => String(value).trim())
          .filter(Boolean);
      });
      body.focus_areas = focusAreaTags(String(data.get("focus_areas") || ""));
      body.variant_languages = Array.from(form.querySelectorAll(".tabs__panel[data-language]"))
        .filter((panel) => !isEmptyVariant(panel))
        .map((panel) => panel.dataset.language);
      body.default_language = String(data.get("default_language") || "") || null;
      return body;
    }

    function figures(title, counts, name) {
      const nodes = [element("h3", "", title)];
      const entries = Object.entries(counts).filter(([, count]) => count > 0);
      if (entries.length === 0) {
        nodes.push(element("p", "muted", title === "Left out" ? "Nobody matched is left out." : "Nobody."));
        return nodes;
      }
      const list = element("dl", "facts facts--compact");
      entries.forEach(([key, count]) => {
        const row = element("div");
        row.appendChild(element("dt", "", name(key)));
        row.appendChild(element("dd", "", number(count)));
        list.appendChild(row);
      });
      nodes.push(list);
      return nodes;
    }

    function render(preview) {
      const nodes = [];
      const total = element("p", "audience-count__total");
      const figure = element("span", "audience-count__number", number(preview.total));
      figure.dataset.testid = "audience-total";
      total.appendChild(figure);
      total.appendChild(document.createTextNode(preview.total === 1 ? " recipient" : " recipients"));
      nodes.push(total);
      if (preview.matched_via_unknown > 0) {
        const unknown = preview.matched_via_unknown;
        const warning = element(
          "p",
          "audience-warning",
          number(unknown) +
            (unknown === 1 ? " recipient is" : " recipients are") +
            " included only because a treaty status is unknown."
        );
        warning.dataset.testid = "audience-unknown";
        nodes.push(warning);
      }
      nodes.push(...figures("By region", preview.by_region, (slug) => regionNames[slug] || slug));
      nodes.push(...figures("By language", preview.by_language, languageName));
      nodes.push(
        ...figures("Left out", preview.excluded, (reason) => exclusionLabels[reason] || reason)
      );
      result.replaceChildren(...nodes);
    }

    function renderError(body, code) {
      const problems = body && Array.isArray(body.detail) ? body.detail : [];
      const nodes = [element("p", "field__error", "The audience cannot be counted:")];
      const list = element("ul", "audience-count__errors");
      problems.forEach((problem) => {
        const where = (problem.loc || []).filter((part) => part !== "body").join(" ");
        list.appendChild(element("li", "", (where ? where + ": " : "") + problem.msg));
      });
      if (problems.length === 0) {
        list.appendChild(
          element("li", "", code ? "The server answered " + code + "." : "The server could not be reached.")
        );
      }
      nodes.push(list);
      result.replaceChildren(...nodes);
    }

    async function count() {
      const body = JSON.stringify(payload());
      if (body === lastSent) return;
      lastSent = body;
      const mine = ++sequence;
      panel.setAttribute("aria-busy", "true");
      status.textContent = "Counting…";
      try {
        const response = await fetch(panel.dataset.endpoint, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRF-Token": panel.dataset.csrfToken || "",
          },
          body: body,
        });
        const answer = await response.json().catch(() => null);
        if (mine !== sequence) return;
        if (response.ok && answer) {
          render(answer);
          status.textContent = "Counted just now, as the form stands.";
        } else {
          renderError(answer, response.status);
          lastSent = null;
          status.textContent = "Correct the form to count again.";
        }
      } catch (error) {
        if (mine !== sequence) return;
        renderError(null, 0);
        lastSent = null;
        status.textContent = "Not counted: check the connection.";
      } finally {
        if (mine === sequence) panel.removeAttribute("aria-busy");
      }
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(count, 350);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    // The server counted the form as it was sent; count what the browser shows (it may
    // have restored other values on "back").
    lastSent = JSON.stringify(payload());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) later();
    });
  }

  // --- live sending progress on the campaign page -----------------------------------------

  const POLL_INTERVAL = 2000; // milliseconds
  const LIVE_STATUSES = ["sending", "paused"];

  function setUpProgress(section) {
    const endpoint = section.dataset.endpoint;
    let status = section.dataset.status;
    if (!endpoint || !LIVE_STATUSES.includes(status)) return;
    const initialStatus = status;
    const sentences = JSON.parse(section.dataset.sentences || "{}");
    const statusLabels = JSON.parse(section.dataset.statusLabels || "{}");
    const statusTones = JSON.parse(section.dataset.statusTones || "{}");
    const bar = section.querySelector("progress");
    const sentence = section.querySelector("[data-progress-sentence]");
    const hint = section.querySelector("[data-progress-hint]");
    const reloadUrl = location.pathname;
    let timer = null;
    let failures = 0;

    function field(name) {
      return section.querySelector('[data-progress-field="' + name + '"]');
    }

    function setText(name, text) {
      const node = field(name);
      if (node && node.textContent !== text) node.textContent = text;
    }

    // The line under the figures, rewritten only when it changes (a link someone is
    // about to follow stays where it is).
    let hintShown = null;
    function setHint(words, withReloadLink) {
      const key = (withReloadLink ? "reload:" : "") + words;
      if (key === hintShown) return;
      hintShown = key;
      if (!withReloadLink) {
        hint.textContent = words;
        return;
      }
      // "Reload the page" links to this page without ?done=..., said once already.
      const link = element("a", "", "Reload the page");
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
      document.querySelectorAll("[data-campaign-status-badge] .badge").forEach((badge) => {
        badge.className = "badge badge--" + (statusTones[next] || "neutral");
        badge.textContent = words;
      });
      document.querySelectorAll("[data-campaign-status-text]").forEach((node) => {
        node.textContent = words;
      });
      // The live region: said once, when the status changes.
      sentence.textContent = sentences[next] || words + ".";
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

  document.addEventListener("click", openDetailsOnLink);
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  document.querySelectorAll("[data-alert-form]").forEach(setUpAudienceCount);
  document.querySelectorAll("[data-campaign-progress]").forEach(setUpProgress);
})();
