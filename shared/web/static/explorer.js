// Tumorscope explorer: plots of the data set from graph, and one sample through submit and status.
// No framework. graph is this page's origin; submit's and status's URLs come from explorer/services.
"use strict";

const EXAMPLE = { radius_mean: 14.5, texture_mean: 20.0, perimeter_mean: 95.0 };
const STATISTICS = { mean: "Mean", se: "Standard error", worst: "Worst (mean of the three largest)" };
const POLL_MS = 500;
const JOB_TIMEOUT_MS = 120000;

const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// ---- Plots ------------------------------------------------------------------------------------

function plotQuery() {
  const plot = $("#plot").value;
  const [width, height] = $("#size").value.split("x");
  const feature = $("#feature").value;
  const query = {
    histogram: { feature, bins: $("#bins").value || "20" },
    scatter: { x: feature, y: $("#second").value },
    box: { feature, kind: "box" },
    violin: { feature, kind: "violin" },
    correlation: {},
    pairs: { features: [feature, $("#second").value, $("#third").value].join(",") },
  }[plot];
  const route = plot === "violin" ? "box" : plot;
  const params = new URLSearchParams({ ...query, width, height });
  for (const [name, value] of filterParams()) params.append(name, value);
  return { route, params };
}

function plotUrl(format) {
  const { route, params } = plotQuery();
  if (format !== "png") params.set("format", format);
  if (format === "json") ["width", "height"].forEach((name) => params.delete(name));
  return `graph/${route}?${params}`;
}

function showPlotControls() {
  const plot = $("#plot").value;
  for (const field of document.querySelectorAll("[data-plots]")) {
    field.hidden = !field.dataset.plots.split(" ").includes(plot);
  }
}

function drawPlot(features) {
  showPlotControls();
  const image = $("#plot-image");
  const url = plotUrl("png");
  for (const format of ["png", "svg", "json"]) $(`#link-${format}`).href = plotUrl(format);
  const feature = features.get($("#feature").value);
  $("#feature-description").textContent = feature ? `${feature.label}: ${feature.description}.` : "";
  if (image.getAttribute("src") === url) return;
  $("#plot-status").textContent = "Drawing…";
  image.alt = `${$("#plot").selectedOptions[0].text} of the data set: benign in blue, malignant in vermilion`;
  image.src = url;  // the graph URL itself: the plot cache and the browser's ETags serve it
}

function onPlotLoaded() {
  $("#plot-image").hidden = false;
  $("#plot-error").textContent = "";
  $("#plot-status").textContent = "";
}

async function onPlotFailed() {  // an image cannot show graph's JSON error: ask for it
  $("#plot-image").hidden = true;  // not the previous plot, as if it were this one
  const response = await fetch($("#plot-image").src);
  const problem = await json(response);
  $("#plot-error").textContent = refusal(response, problem.error)
    || (problem.error ? problem.error.message : "the plot could not be drawn");
  $("#plot-status").textContent = "";
}

// ---- Filters ----------------------------------------------------------------------------------

const OPERATORS = { gt: ">", gte: "≥", lt: "<", lte: "≤", eq: "=" };
let conditionCount = 0;

function filterParams() {
  const params = [];
  const diagnosis = $("#filter-diagnosis").value;
  if (diagnosis) params.push(["diagnosis", diagnosis]);
  for (const condition of document.querySelectorAll("#conditions .condition")) {
    const value = condition.querySelector("input");
    if (value.value === "" || value.validity.badInput) continue;
    const feature = condition.querySelector("select[name=feature]").value;
    const op = condition.querySelector("select[name=op]").value;
    params.push([`${feature}__${op}`, value.value]);
  }
  return params;
}

function labelled(id, text, control) {
  control.id = id;
  return element("div", { class: "field" }, element("label", { for: id }, text), control);
}

function addCondition(features, onChange, given = {}) {
  conditionCount += 1;
  const id = `condition-${conditionCount}`;
  const feature = element("select", { name: "feature" });
  for (const item of features.values()) {
    feature.append(new Option(item.label + unitSuffix(item), item.name, false, item.name === (given.feature || "radius_mean")));
  }
  const op = element("select", { name: "op" });
  for (const [name, sign] of Object.entries(OPERATORS)) op.append(new Option(sign, name, false, name === (given.op || "gt")));
  const value = element("input", { name: "value", type: "number", step: "any", inputmode: "decimal" });
  value.value = given.value ?? "";
  const remove = element("button", { type: "button" }, "Remove");
  const set = element(
    "fieldset", { class: "condition", id },
    element("legend", {}, `Condition ${conditionCount}`),
    labelled(`${id}-feature`, "Feature", feature),
    labelled(`${id}-op`, "Comparison", op),
    labelled(`${id}-value`, "Value", value),
    remove,
  );
  remove.addEventListener("click", () => { set.remove(); onChange(); });
  $("#conditions").append(set);
  return set;
}

// ---- Rows -------------------------------------------------------------------------------------

const ROWS_PAGE = 20;
const rowsState = { sort: null, descending: false, pages: [], next: null };

function shownFeatures() {
  const plot = $("#plot").value;
  const chosen = [$("#feature").value];
  if (plot === "scatter" || plot === "pairs") chosen.push($("#second").value);
  if (plot === "pairs") chosen.push($("#third").value);
  return [...new Set(chosen)];
}

function rowsQuery(format) {
  const params = new URLSearchParams(filterParams());
  if (rowsState.sort) params.set(rowsState.descending ? "_sort_desc" : "_sort", rowsState.sort);
  if (format === "json") {
    for (const feature of shownFeatures()) params.append("_col", feature);
    params.set("_size", String(ROWS_PAGE));
  } else {
    params.set("format", format);
  }
  return `dataset/rows?${params}`;
}

function sortButton(key, text, features) {
  const button = element("button", { type: "button", "data-sort": key }, text);
  const sorted = rowsState.sort === key;
  const th = element("th", { scope: "col" }, button);
  if (sorted) th.setAttribute("aria-sort", rowsState.descending ? "descending" : "ascending");
  button.addEventListener("click", () => {
    rowsState.descending = sorted && !rowsState.descending;
    rowsState.sort = key;
    loadRows(features);
  });
  return th;
}

function showRows(page, features) {
  const names = shownFeatures();
  const head = element(
    "tr", {},
    sortButton("id", "Id", features),
    element("th", { scope: "col" }, "Diagnosis"),
    ...names.map((name) => sortButton(name, features.get(name).label + unitSuffix(features.get(name)), features)),
  );
  const body = page.rows.map((row) => element(
    "tr", {},
    element("td", {}, element("a", { href: `dataset/rows/${row.id}` }, String(row.id))),
    element("td", { class: row.diagnosis === "M" ? "malignant" : "benign" }, row.diagnosis === "M" ? "malignant" : "benign"),
    ...names.map((name) => element("td", {}, String(row[name]))),
  ));
  $("#rows-table thead").replaceChildren(head);
  $("#rows-table tbody").replaceChildren(...body);
  const first = (rowsState.pages.length - 1) * ROWS_PAGE;
  const shown = page.rows.length ? `Rows ${first + 1}–${first + page.rows.length} of ` : "No row of ";
  $("#rows-count").textContent =
    `${shown}${plural(page.total, "matching case")} (${page.counts.benign} benign, ${page.counts.malignant} malignant).`;
  rowsState.next = page.next;
  $("#rows-next").disabled = !page.next;
  $("#rows-previous").disabled = rowsState.pages.length < 2;
  $("#rows-first").disabled = rowsState.pages.length < 2;
}

async function showRowsPage(url, features) {
  const response = await fetch(url);
  const page = await json(response);
  if (!response.ok) {
    $("#rows-error").textContent = page.error.message;
    return;
  }
  $("#rows-error").textContent = "";
  showRows(page, features);
}

function loadRows(features) {  // the first page of the current filters, columns and order
  if (rowsState.sort && rowsState.sort !== "id" && !shownFeatures().includes(rowsState.sort)) rowsState.sort = null;
  rowsState.pages = [rowsQuery("json")];
  $("#rows-csv").href = rowsQuery("csv");
  $("#rows-ndjson").href = rowsQuery("ndjson");
  return showRowsPage(rowsState.pages[0], features);
}

function pageRows(step, features) {
  if (step > 0 && rowsState.next) rowsState.pages.push(rowsState.next);
  if (step < 0 && rowsState.pages.length > 1) rowsState.pages.pop();
  if (step === 0) rowsState.pages = rowsState.pages.slice(0, 1);
  return showRowsPage(rowsState.pages.at(-1), features);
}

// ---- Your sample ------------------------------------------------------------------------------

function unitSuffix(feature) {
  return feature.unit ? ` (${feature.unit})` : "";
}

function sampleField(feature) {
  const id = `sample-${feature.name}`;
  const stats = feature.statistics;
  const means = element(
    "span", { class: "means", id: `${id}-means` },
    "mean: ", element("span", { class: "benign" }, `benign ${stats.benign.mean.toPrecision(3)}`),
    ", ", element("span", { class: "malignant" }, `malignant ${stats.malignant.mean.toPrecision(3)}`),
  );
  const error = element("span", { class: "error", id: `${id}-error`, "aria-live": "polite" });
  const input = element("input", {
    id, name: feature.name, type: "number", step: "any", inputmode: "decimal",
    "aria-describedby": `${id}-means ${id}-error`,
  });
  const label = element("label", { for: id }, feature.label + unitSuffix(feature));
  return element("div", { class: "sample-field" }, label, input, means, error);
}

function buildSampleForm(features) {
  const fields = $("#sample-fields");
  for (const [statistic, legend] of Object.entries(STATISTICS)) {
    const set = element("fieldset", {}, element("legend", {}, legend));
    for (const feature of features.values()) {
      if (feature.name.endsWith(`_${statistic}`)) set.append(sampleField(feature));
    }
    fields.append(set);
  }
}

function clearErrors() {
  $("#sample-error").textContent = "";
  for (const input of document.querySelectorAll("#sample-form input[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    $(`#${input.id}-error`).textContent = "";
  }
}

function showFieldError(name, message) {
  const input = $(`#sample-form input[name="${name}"]`);
  if (!input) return false;
  input.setAttribute("aria-invalid", "true");
  $(`#${input.id}-error`).textContent = message;
  input.focus();
  return true;
}

function duration(seconds) {
  if (seconds < 120) return plural(seconds, "second");
  if (seconds < 7200) return plural(Math.round(seconds / 60), "minute");
  return plural(Math.round(seconds / 3600), "hour");
}

function refusal(response, error = {}) {  // a 429 (this address is over a limit or its share) in words
  if (response.status !== 429) return "";
  const seconds = Number(response.headers.get("Retry-After")) || error.retry_after;
  const wait = seconds ? `try again in ${duration(seconds)}` : "try again later";
  if (error.code === "quota_exceeded") {
    return `Your address already keeps its share of Tumorscope's job store; ${wait}.`;
  }
  return `Too many requests from your address; ${wait}.`;
}

function showApiError(error) {
  const field = error.feature || (error.unknown && error.unknown[0]);
  if (!field || !showFieldError(field, error.message)) $("#sample-error").textContent = error.message;
}

function readSample() {
  const sample = {};
  for (const input of document.querySelectorAll("#sample-form input[type=number]")) {
    if (input.validity.badInput) {  // the browser holds no number for it: nothing to send
      showFieldError(input.name, `${input.name}: enter a number, such as 14.5`);
      return null;
    }
    if (input.value !== "") sample[input.name] = Number(input.value);
  }
  return sample;
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    return { error: { message: `HTTP ${response.status} ${response.statusText}` } };
  }
}

async function followJob(job, services) {
  const statusUrl = new URL(job.status_url, services.status || location.href);
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  let state = job;
  while (state.status === "queued" || state.status === "in-progress") {
    $("#sample-status").textContent = state.status === "queued" ? "Queued…" : "Drawing your sample…";
    if (Date.now() > deadline) throw new Error("the job took too long; try again later");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const response = await fetch(statusUrl);
    state = await json(response);
    if (!response.ok) throw new Error(state.error.message);
  }
  if (state.status !== "complete") throw new Error(`the job failed: ${state.error || state.reason}`);
  return new URL(job.result_url, services.status || location.href);
}

function summaryTable(summary, features) {
  const head = element(
    "tr", {},
    element("th", { scope: "col" }, "Feature"),
    element("th", { scope: "col" }, "Your value"),
    element("th", { scope: "col", class: "benign" }, "Percentile among benign"),
    element("th", { scope: "col", class: "malignant" }, "Percentile among malignant"),
  );
  const rows = Object.entries(summary.features).map(([name, item]) =>
    element(
      "tr", {},
      element("th", { scope: "row" }, features.get(name).label + unitSuffix(features.get(name))),
      element("td", {}, String(item.value)),
      element("td", {}, `${item.percentile.benign.toFixed(1)}`),
      element("td", {}, `${item.percentile.malignant.toFixed(1)}`),
    ),
  );
  const table = element("table", {}, element("thead", {}, head), element("tbody", {}, ...rows));
  const explained = element(
    "p", { class: "hint" }, "A percentile is the share of that group's cases whose value is at most yours.",
  );
  return element("div", { class: "table-wrap" }, table, explained);
}

function showResult(image, summary, features) {
  const n = summary.neighbours;
  const heading = element("h3", { tabindex: "-1" }, "Where your sample sits");
  const neighbours = element(
    "p", {},
    `Its ${plural(n.k, "nearest case")} in the data set (on the features you gave, each standardised): `,
    element("span", { class: "benign" }, `${n.benign} benign`), ", ",
    element("span", { class: "malignant" }, `${n.malignant} malignant`), ".",
  );
  const cases = element("ol", { id: "neighbour-cases" }, ...(n.cases || []).map((item) => element(
    "li", {},
    element("a", { href: `dataset/rows/${item.id}` }, `case ${item.id}`), ": ",
    element("span", { class: item.diagnosis === "M" ? "malignant" : "benign" }, item.diagnosis === "M" ? "malignant" : "benign"),
    `, distance ${item.distance.toFixed(2)}`,
  )));
  const panel = element(
    "div", { id: "summary" }, summaryTable(summary, features), neighbours, cases,
    element("p", { class: "note" }, summary.note),
  );
  $("#result").replaceChildren(heading, image, panel);
  heading.focus();
}

async function loadImage(url, id, alt) {
  const image = element("img", { id, alt });
  image.src = url;
  await image.decode();
  return image;
}

async function submitSample(event, services, features) {
  event.preventDefault();
  clearErrors();
  const sample = readSample();
  if (sample === null) return;
  const button = $("#sample-form button[type=submit]");
  button.disabled = true;
  $("#sample-status").textContent = "Sending…";
  try {
    const response = await fetch(services.submit, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(sample),
    });
    const body = await json(response);
    if (response.status === 429) {
      $("#sample-error").textContent = refusal(response, body.error);
      $("#sample-status").textContent = "";
      return;
    }
    if (!response.ok) {
      showApiError(body.error);
      $("#sample-status").textContent = "";
      return;
    }
    const result = await followJob(body, services);
    const [image, summary] = await Promise.all([
      loadImage(result, "result-image", "Your sample marked on each feature's benign and malignant distributions"),
      fetch(`${result}?format=json`).then(json),
    ]);
    showResult(image, summary, features);
    $("#sample-status").textContent = `Done: job ${body.job_id}.`;
  } catch (error) {
    $("#sample-error").textContent = `Could not place the sample: ${error.message}`;
    $("#sample-status").textContent = "";
  } finally {
    button.disabled = false;
  }
}

function fillExample() {
  $("#sample-form").reset();
  for (const [name, value] of Object.entries(EXAMPLE)) $(`#sample-form input[name="${name}"]`).value = value;
}

// ---- Start ------------------------------------------------------------------------------------

function fillFeatureSelects(features) {
  const defaults = { feature: "radius_mean", second: "texture_mean", third: "concavity_mean" };
  for (const [id, chosen] of Object.entries(defaults)) {
    const select = $(`#${id}`);
    for (const feature of features.values()) {
      select.append(new Option(feature.label + unitSuffix(feature), feature.name, false, feature.name === chosen));
    }
  }
}

async function start() {
  const [table, services] = await Promise.all([
    fetch("features").then(json),
    fetch("explorer/services").then(json),
  ]);
  if (!table.features) {
    $("#plot-error").textContent = `The data set's features could not be read: ${table.error.message}`;
    return;
  }
  const features = new Map(table.features.map((feature) => [feature.name, feature]));
  fillFeatureSelects(features);
  buildSampleForm(features);
  const redraw = () => drawPlot(features);
  const refilter = () => { redraw(); loadRows(features); };
  $("#plot-image").addEventListener("load", onPlotLoaded);
  $("#plot-image").addEventListener("error", onPlotFailed);
  $("#plot-form").addEventListener("change", refilter);
  $("#plot-form").addEventListener("submit", (event) => { event.preventDefault(); redraw(); });
  $("#filter-form").addEventListener("change", refilter);
  $("#filter-form").addEventListener("submit", (event) => { event.preventDefault(); refilter(); });
  $("#add-condition").addEventListener("click", () => addCondition(features, refilter).querySelector("input").focus());
  $("#rows-next").addEventListener("click", () => pageRows(1, features));
  $("#rows-previous").addEventListener("click", () => pageRows(-1, features));
  $("#rows-first").addEventListener("click", () => pageRows(0, features));
  loadRows(features);
  $("#sample-form").addEventListener("submit", (event) => submitSample(event, services, features));
  $("#sample-form").addEventListener("reset", () => { clearErrors(); $("#result").replaceChildren(); });
  $("#sample-example").addEventListener("click", fillExample);
  redraw();
  // A sample in the page's own URL (the form without its script sends one): place it at once.
  const given = [...new URLSearchParams(location.search)].filter(([name]) => features.has(name));
  if (given.length) {
    for (const [name, value] of given) $(`#sample-form input[name="${name}"]`).value = value;
    $("#sample-form").requestSubmit();
  }
}

start().catch((error) => {
  $("#plot-error").textContent = `The explorer could not start: ${error.message}`;
});
