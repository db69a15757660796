/* Action alerts: language tabs, and the live audience count and live preview on the
 * alert form. (The live sending progress on the campaign page is progress.js, shared
 * with the dashboard.)
 *
 * Progressive enhancement only: without this script every language is shown one under
 * the other, and the figures and the preview are the ones made when the page loaded.
 * The count and the preview ask the same endpoints as API clients (POST
 * /api/audiences/preview, POST /api/campaigns/preview) with the page's session cookie
 * and its CSRF token. Nothing is loaded from anywhere else. */
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
      // For the live preview, which follows the open language.
      container.dispatchEvent(new CustomEvent("tabs:select", { bubbles: true }));
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

  // The form's audience as POST /api/audiences/preview reads it (and the live
  // preview's `audience`): the fields the server's form handler gives the API.
  function audiencePayload(form) {
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

  // One request at a time from this page: the count and the preview often ask
  // together, and the embedded SQLite database serves one POST at a time (a second
  // one can stall the server until the first is done).
  let previousPost = Promise.resolve();

  function postJson(url, csrfToken, body) {
    const sent = previousPost.then(() =>
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": csrfToken || "",
        },
        body: body,
      })
    );
    // (The server commits before it answers: once headers arrive, the next may go.)
    previousPost = sent.catch(() => null);
    return sent;
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
      return audiencePayload(form);
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
        const response = await postJson(panel.dataset.endpoint, panel.dataset.csrfToken, body);
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

  // --- the live preview beside the editor --------------------------------------------------

  const PREVIEW_DELAY = 400; // milliseconds after the last keystroke

  function setUpLivePreview(form) {
    const pane = form.querySelector("[data-live-preview]");
    if (!pane) return;
    const panels = Array.from(form.querySelectorAll(".composer__editor > .tabs__panel"));
    if (panels.length === 0) return;
    const chooser = pane.querySelector("[data-preview-recipient]");
    const status = pane.querySelector("[data-preview-status]");
    const problem = pane.querySelector("[data-preview-problem]");
    const message = pane.querySelector("[data-preview-message]");
    const subject = pane.querySelector("[data-preview-subject]");
    const frame = pane.querySelector("[data-preview-frame]");
    const text = pane.querySelector("[data-preview-text]");
    pane.querySelector("[data-preview-chooser]").hidden = false;
    let timer = null;
    let sequence = 0;
    let lastSent = null;
    let shownMembers = null;

    function openPanel() {
      return (
        panels.find((panel) => !panel.hidden) ||
        panels.find((panel) => panel.dataset.language === pane.dataset.language) ||
        panels[0]
      );
    }

    function fieldOf(panel, name) {
      return document.getElementById("f-" + name + "." + panel.dataset.language);
    }

    function request(panel, withAudience) {
      const body = {
        language: panel.dataset.language,
        subject: fieldOf(panel, "subject").value,
        body: fieldOf(panel, "body").value,
      };
      if (withAudience) body.audience = audiencePayload(form);
      if (chooser.value) body.contact_id = Number(chooser.value);
      return JSON.stringify(body);
    }

    // A problem the preview found is shown beside its field too: the error a save
    // would give, before saving.
    function markField(panel, name, words) {
      panels.forEach((each) =>
        ["subject", "body"].forEach((field) => clearField(fieldOf(each, field)))
      );
      const field = panel && name ? fieldOf(panel, name) : null;
      if (!field) return;
      const note = element("p", "field__error", words);
      note.id = field.id.slice(2) + "-live-error";
      note.dataset.liveError = "";
      field.closest(".field").appendChild(note);
      field.dataset.describedBefore = field.getAttribute("aria-describedby") || "";
      field.setAttribute("aria-describedby", (field.dataset.describedBefore + " " + note.id).trim());
      field.dataset.invalidBefore = field.getAttribute("aria-invalid") || "";
      field.setAttribute("aria-invalid", "true");
    }

    function clearField(field) {
      const note = field && field.closest(".field").querySelector("[data-live-error]");
      if (!note) return;
      note.remove();
      const described = field.dataset.describedBefore;
      if (described) field.setAttribute("aria-describedby", described);
      else field.removeAttribute("aria-describedby");
      if (field.dataset.invalidBefore) field.setAttribute("aria-invalid", field.dataset.invalidBefore);
      else field.removeAttribute("aria-invalid");
    }

    function showProblem(words) {
      problem.textContent = words;
      problem.hidden = false;
      message.hidden = true;
    }

    function memberLabel(member) {
      return member.name + " (" + member.organization_name + ", " + member.country_name + ")";
    }

    // The people offered, redrawn only when they change (so a choice being made stays).
    function showMembers(members, recipient) {
      const offered = members.slice();
      if (recipient && chooser.value && !offered.some((m) => m.contact_id === recipient.contact_id)) {
        offered.push(recipient);
      }
      const key = JSON.stringify(offered.map((member) => [member.contact_id, memberLabel(member)]));
      if (key === shownMembers) return;
      shownMembers = key;
      const chosen = chooser.value;
      const options = [chooser.options[0]];
      offered.forEach((member) => {
        const option = element("option", "", memberLabel(member));
        option.value = String(member.contact_id);
        options.push(option);
      });
      chooser.replaceChildren(...options);
      chooser.value = offered.some((member) => String(member.contact_id) === chosen) ? chosen : "";
    }

    function show(panel, preview) {
      const name = panel.dataset.tabLabel || preview.language;
      const recipient = preview.recipient;
      const sentence = recipient
        ? "The " + name + " version, as " + memberLabel(recipient) + " would see it."
        : "The " + name + " version, with made-up sample values: nobody the audience reaches gets it now.";
      // A live region: said when it changes, not at every keystroke.
      if (status.textContent.trim() !== sentence) status.textContent = sentence;
      problem.hidden = true;
      problem.textContent = "";
      markField(null, null, "");
      subject.textContent = preview.subject;
      [subject, text].forEach((node) => {
        node.lang = preview.language;
        node.dir = preview.direction;
      });
      if (frame.getAttribute("srcdoc") !== preview.html) frame.srcdoc = preview.html;
      text.textContent = preview.text;
      message.hidden = false;
      showMembers(preview.audience_sample || [], recipient);
    }

    // The field a problem names: ["body", "subject"] is the request body's `subject`.
    function fieldNamed(detail) {
      const loc = (detail && detail.loc) || [];
      return loc[0] === "body" ? loc[1] : loc[0];
    }

    async function ask(body) {
      const response = await postJson(pane.dataset.endpoint, pane.dataset.csrfToken, body);
      const answer = await response.json().catch(() => null);
      const problems = answer && Array.isArray(answer.detail) ? answer.detail : [];
      return { response, answer, problems };
    }

    async function refresh() {
      const panel = openPanel();
      const sent = request(panel, true);
      if (sent === lastSent) return;
      lastSent = sent;
      const mine = ++sequence;
      pane.setAttribute("aria-busy", "true");
      try {
        let { response, answer, problems } = await ask(sent);
        // An audience the form cannot use yet (the count says why): made-up values.
        if (
          response.status === 422 &&
          problems.length &&
          problems.every((p) => fieldNamed(p) === "audience")
        ) {
          ({ response, answer, problems } = await ask(request(panel, false)));
        }
        if (mine !== sequence) return;
        if (response.ok && answer) {
          show(panel, answer);
          return;
        }
        lastSent = null;
        const first = problems[0];
        const field = first ? fieldNamed(first) : null;
        if (field === "contact_id" && chooser.value) {
          // That person is no longer reached: back to the first person who is.
          chooser.value = "";
          status.textContent = first.msg;
          window.setTimeout(refresh, 0);
        } else if (first) {
          showProblem(first.msg);
          markField(panel, field === "subject" || field === "body" ? field : null, first.msg);
        } else {
          showProblem(
            response.status === 401 || response.status === 403
              ? "Sign in again to see the preview; what you typed is still here."
              : "The preview could not be made (the server answered " + response.status + ")."
          );
        }
      } catch (error) {
        if (mine !== sequence) return;
        lastSent = null;
        showProblem("The preview could not be updated: check the connection.");
      } finally {
        if (mine === sequence) pane.removeAttribute("aria-busy");
      }
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, PREVIEW_DELAY);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.addEventListener("tabs:select", () => {
      window.clearTimeout(timer);
      refresh();
    });
    refresh();
  }

  document.addEventListener("click", openDetailsOnLink);
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  document.querySelectorAll("[data-alert-form]").forEach(setUpAudienceCount);
  document.querySelectorAll("[data-alert-form]").forEach(setUpLivePreview);
})();
