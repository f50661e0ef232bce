// The docs page's behaviour: run the query from the form and show the answer as a table, and
// filter the static site's index. Data from a pod only ever becomes text nodes (textContent),
// never markup. No framework, no build step: this file is served as is.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // The pod's base URL: the page's own pod (relative, so a pod mounted under /<name>/ works),
  // or the URL typed into the static site's form.
  function podBase() {
    const typed = $("pod-url");
    if (!typed) return new URL(".", window.location.href);
    const text = typed.value.trim();
    return new URL(text.endsWith("/") ? text : text + "/");
  }

  function showUrls() {
    let shown;
    try {
      shown = podBase().href.replace(/\/$/, "");
    } catch (e) {
      return;
    }
    for (const span of document.querySelectorAll(".pod-url")) span.textContent = shown;
    const own = $("pod-docs");
    if (own && /^https?:$/.test(podBase().protocol)) own.href = new URL("docs", podBase()).href;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
  }

  function cellText(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function appendRows(rows) {
    const table = $("answer");
    const head = table.tHead;
    if (head.rows.length === 0 && rows.length > 0) {
      const tr = head.insertRow();
      for (const name of Object.keys(rows[0])) {
        const th = document.createElement("th");
        th.textContent = name;
        tr.appendChild(th);
      }
    }
    const body = table.tBodies[0];
    for (const row of rows) {
      const tr = body.insertRow();
      for (const value of Object.values(row)) {
        const td = tr.insertCell();
        td.textContent = cellText(value);
        if (value === null) td.className = "null";
      }
    }
    table.hidden = false;
  }

  function resetAnswer() {
    const table = $("answer");
    table.tHead.replaceChildren();
    table.tBodies[0].replaceChildren();
    table.hidden = true;
    $("error").hidden = true;
    $("more").hidden = true;
  }

  let lastArguments = null;
  let shownRows = 0;

  function formArguments() {
    const args = new URLSearchParams();
    for (const input of document.querySelectorAll("input[data-parameter]")) {
      const text = input.value.trim();
      if (text === "") continue;
      // A list's values go repeated: URLSearchParams would encode a comma into one value.
      const values = "list" in input.dataset ? text.split(",") : [text];
      for (const value of values) args.append(input.name, value.trim());
    }
    const limit = $("limit").value.trim();
    if (limit !== "") args.append("limit", limit);
    args.append("format", "json");
    return args;
  }

  // The token lives only in its input (no name, so no form ever sends it) and in this
  // request's header: never stored, never in a URL, never logged.
  function requestHeaders() {
    const headers = { Accept: "application/json" };
    const token = $("token") ? $("token").value.trim() : "";
    if (token !== "") headers.Authorization = "Bearer " + token;
    return headers;
  }

  async function fetchPage(args) {
    let url;
    try {
      url = new URL("get_data?" + args.toString(), podBase());
    } catch (e) {
      showError("Give the pod's URL, such as https://my-pod.example.com/");
      return;
    }
    setStatus("Running…");
    let response;
    try {
      response = await fetch(url, { headers: requestHeaders(), credentials: "omit" });
    } catch (e) {
      setStatus("");
      // A browser tells a refused CORS check from a network failure to no script: name both.
      const hint =
        url.origin === window.location.origin
          ? ""
          : ", or it does not let this page's origin (" +
            window.location.origin +
            ") call it: its spec's cors: allow_origins must list it";
      showError("Could not reach the pod at " + url.origin + hint + " (" + e.message + ")");
      return;
    }
    let body;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      setStatus("");
      const message = body && typeof body.error === "string" ? body.error : response.statusText;
      showError("Error " + response.status + ": " + message);
      return;
    }
    appendRows(body);
    shownRows += body.length;
    const next = response.headers.get("X-Next-Page-Token");
    lastArguments = args;
    $("more").hidden = !next;
    $("more").dataset.token = next || "";
    setStatus(shownRows + (shownRows === 1 ? " row" : " rows") + (next ? ", more follow" : ""));
  }

  function setUpForm() {
    const form = $("query-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      resetAnswer();
      shownRows = 0;
      fetchPage(formArguments());
    });
    $("more").addEventListener("click", () => {
      const args = new URLSearchParams(lastArguments);
      args.set("page_token", $("more").dataset.token);
      $("more").hidden = true;
      fetchPage(args);
    });
    const typed = $("pod-url");
    if (typed) typed.addEventListener("input", showUrls);
    showUrls();
  }

  function setUpSearch() {
    const search = $("search");
    if (!search) return;
    const items = Array.from(document.querySelectorAll("#pods li"));
    const filter = () => {
      const words = search.value.toLowerCase().split(/\s+/).filter((w) => w);
      let shown = 0;
      for (const item of items) {
        const text = item.dataset.search;
        const match = words.every((word) => text.includes(word));
        item.hidden = !match;
        if (match) shown += 1;
      }
      $("count").textContent = shown + " of " + items.length + " pods";
    };
    search.addEventListener("input", filter);
    filter();
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpForm();
    setUpSearch();
  });
})();
