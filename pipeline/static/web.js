// skypatrol web: the review map (Leaflet + leaflet-geoman, both vendored beside this file).
// Talks to the JSON API of pipeline/web.py; every request is same-origin (the token, when the
// server needs one, rides in its cookie).
(function () {
  "use strict";
  const S = JSON.parse(document.getElementById("ui-strings").textContent);
  const COLOURS = {illegal_construction: "#d32f2f", green_encroachment: "#2e7d32",
                   illegal_billboard: "#f9a825"};
  const $ = (id) => document.getElementById(id);
  // Leaflet puts tooltip and layer names in as HTML: ids and names from the register are text
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;",
    ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  const state = {surveys: [], selected: null, detail: null, editing: null, ortho: null,
                 layers: {}, filled: false};

  const map = L.map("map", {maxZoom: 23, zoomSnap: 0.5});
  window.skypatrol = {map: map};  // for the browser tests and the console
  L.control.scale({imperial: false}).addTo(map);
  const findings = L.geoJSON(null, {style: styleOf, onEachFeature: bind}).addTo(map);
  const parcels = L.geoJSON(null, {
    style: (f) => f.properties.layer === "parcel"
      ? {color: "#1565c0", weight: 1, fill: false, dashArray: "4 3"}
      : {color: "#6a1b9a", weight: 1, fillOpacity: 0.08}});
  const overlays = {};
  overlays[S.findings] = findings;
  overlays[S.parcels + " / " + S.permits] = parcels;
  const layerControl = L.control.layers(null, overlays, {collapsed: window.innerWidth < 800})
    .addTo(map);
  // Leaflet names its layers button in English, geoman its drawing hints: in the page's language
  layerControl.getContainer().querySelector(".leaflet-control-layers-toggle").title = S.layers;
  if (S.lang === "zh") map.pm.setLang("zh");

  function styleOf(f) {
    const p = f.properties;
    const c = COLOURS[p.category] || "#555";
    if (p.review === "rejected") return {color: "#777", weight: 1.5, dashArray: "4 4", fillOpacity: 0.05};
    const verified = ["confirmed", "corrected", "relabelled", "added"].includes(p.review);
    return {color: verified ? "#1b5e20" : c, weight: verified ? 3 : 2, fillColor: c,
            fillOpacity: p.status === "resolved" ? 0.05 : 0.25,
            dashArray: p.status === "resolved" ? "2 4" : null,
            className: "finding f-" + p.task_id};
  }

  function bind(f, layer) {
    state.layers[f.properties.task_id] = layer;
    layer.on("click", () => select(f.properties.task_id));
    layer.bindTooltip(esc(f.properties.task_id + " · " +
                          (S.categories[f.properties.category] || "")));
  }

  function say(text, error) {
    $("msg").textContent = text || "";
    $("msg").className = error ? "error" : "";
  }

  async function api(path, options) {
    const r = await fetch(path, Object.assign({headers: {"Content-Type": "application/json"}},
                                              options || {}));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.detail || r.statusText);
    return body;
  }

  function filters() {
    const q = new URLSearchParams({lang: S.lang});
    for (const k of ["survey", "category", "status", "review", "district", "squad"]) {
      const v = $("f-" + k).value;
      if (v) q.set(k, v);
    }
    const s = parseFloat($("f-score").value);
    if (s > 0) q.set("min_score", s);
    return q;
  }

  function currentSurvey() {
    return $("f-survey").value || (state.surveys.length ? state.surveys[state.surveys.length - 1].survey_id : "");
  }

  function showImagery() {
    const id = currentSurvey();
    if (state.ortho) { layerControl.removeLayer(state.ortho); map.removeLayer(state.ortho); }
    if (!id) return;
    state.ortho = L.tileLayer("tiles/" + encodeURIComponent(id) + "/{z}/{x}/{y}",
                              {maxZoom: 23, maxNativeZoom: 22, tileSize: 256}).addTo(map);
    state.ortho.bringToBack();
    layerControl.addBaseLayer(state.ortho, esc(S.orthophoto + " " + id));
  }

  function fillChoices(features) {
    if (state.filled) return;
    state.filled = true;
    for (const key of ["district", "squad"]) {
      const values = [...new Set(features.map((f) => f.properties[key]).filter(Boolean))].sort();
      for (const v of values) $("f-" + key).add(new Option(v, v));
    }
  }

  async function loadFindings() {
    const fc = await api("api/findings?" + filters());
    state.layers = {};
    findings.clearLayers();
    findings.addData(fc);
    fillChoices(fc.features);
    document.body.dataset.findings = String(fc.features.length);
    await loadQueue();
    return fc;
  }

  async function loadQueue() {
    const q = new URLSearchParams();
    if ($("f-survey").value) q.set("survey", $("f-survey").value);
    const items = await api("api/queue?" + q);
    const ul = $("queue");
    ul.replaceChildren();
    for (const it of items) {
      const li = document.createElement("li");
      li.dataset.task = it.task_id;
      li.textContent = it.task_id + " · " + (S.categories[it.category] || it.category) +
        (it.score == null ? "" : " · " + S.score + " " + it.score.toFixed(2));
      li.addEventListener("click", () => select(it.task_id, true));
      ul.appendChild(li);
    }
  }

  function fact(dl, label, value) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value == null || value === "" ? "—" : value;
    dl.append(dt, dd);
  }

  async function select(taskId, zoom) {
    stopEditing();
    const d = await api("api/findings/" + encodeURIComponent(taskId) + "?lang=" + S.lang);
    state.selected = taskId;
    state.detail = d;
    $("panel").classList.remove("hidden");
    $("hint").classList.add("hidden");
    $("panel").dataset.task = taskId;
    $("p-title").textContent = d.task_id + " · " + d.category_label + " · " + d.object_label;
    const dl = $("p-facts");
    dl.replaceChildren();
    fact(dl, S.area, d.area_m2 == null ? null : d.area_m2.toFixed(1));
    fact(dl, S.score, d.score == null ? null : d.score.toFixed(2) +
         (d.threshold == null ? "" : " (≥ " + d.threshold.toFixed(2) + ")"));
    fact(dl, S.status, S[d.status] || d.status);
    fact(dl, S.review, d.review ? (S[d.review] || d.review) : S.unreviewed);
    fact(dl, S.district, d.district);
    fact(dl, S.squad, d.squad);
    fact(dl, S.parcel, d.parcel_id);
    fact(dl, S.first_seen, d.first_seen);
    fact(dl, S.squad_result, d.squad_result);
    fact(dl, S.checks, d.checks);
    const hist = $("p-history");
    hist.replaceChildren();
    for (const h of d.history) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = h.chip;
      img.alt = h.survey_id;
      img.loading = "lazy";
      img.onerror = () => fig.remove();
      const cap = document.createElement("figcaption");
      cap.textContent = h.survey_date + " · " + (h.seen ? (h.area_m2 || 0).toFixed(1) + " m²" +
        (h.score == null ? "" : " · " + h.score.toFixed(2)) : S.not_seen);
      fig.append(img, cap);
      hist.appendChild(fig);
    }
    const ul = $("p-reviews");
    ul.replaceChildren();
    for (const r of d.reviews) {
      const li = document.createElement("li");
      li.textContent = r.reviewed_at.slice(0, 19).replace("T", " ") + " · " + r.reviewer + " · " +
        r.action + (r.reason ? " (" + r.reason + ")" : "") +
        (r.category ? " → " + r.category + "/" + r.object_class : "");
      ul.appendChild(li);
    }
    const layer = state.layers[taskId];
    if (layer && zoom) map.fitBounds(layer.getBounds(), {maxZoom: 21, padding: [40, 40]});
  }

  function reviewer() {
    const name = $("reviewer").value.trim();
    if (!name) { say(S.reviewer_needed, true); $("reviewer").focus(); return null; }
    localStorage.setItem("skypatrol-reviewer", name);
    return name;
  }

  async function send(review) {
    const who = reviewer();
    if (!who) return false;
    review.reviewer = who;
    try {
      await api("api/reviews", {method: "POST", body: JSON.stringify(review)});
    } catch (e) {
      say(e.message, true);
      return false;
    }
    say(S.saved + ": " + review.action + " " + (review.task_id || ""));
    await loadFindings();
    if (review.task_id && review.action !== "add") await select(review.task_id);
    // the page's count of saved reviews, once the map and the queue show them
    document.body.dataset.reviews = String(parseInt(document.body.dataset.reviews || "0") + 1);
    return true;
  }

  function act(action, extra) {
    const d = state.detail;
    if (!d) return;
    // the survey on the map when it saw the finding (an outline is drawn on its imagery),
    // else the finding's latest sighting
    const shown = $("f-survey").value;
    const survey = shown && d.history.some((h) => h.survey_id === shown && h.seen) ? shown
      : d.survey_id;
    send(Object.assign({action: action, task_id: d.task_id, survey_id: survey}, extra || {}));
  }

  function stopEditing() {
    if (state.editing) { state.editing.pm.disable(); state.editing = null; }
    $("b-save-outline").classList.add("hidden");
    $("b-cancel-outline").classList.add("hidden");
    $("b-edit").classList.remove("hidden");
  }

  $("b-confirm").addEventListener("click", () => act("confirm"));
  $("b-reject").addEventListener("click", () => act("reject", {reason: $("reject-reason").value}));
  $("b-relabel").addEventListener("click", () => {
    const [category, cls] = $("relabel-class").value.split("|");
    act("relabel", {category: category, object_class: cls});
  });
  $("b-edit").addEventListener("click", () => {
    const layer = state.layers[state.selected];
    if (!layer) return;
    stopEditing();
    state.editing = layer;
    layer.pm.enable({allowSelfIntersection: false});
    $("b-edit").classList.add("hidden");
    $("b-save-outline").classList.remove("hidden");
    $("b-cancel-outline").classList.remove("hidden");
  });
  $("b-save-outline").addEventListener("click", () => {
    const layer = state.editing;
    if (!layer) return;
    const geometry = layer.toGeoJSON().geometry;
    stopEditing();
    act("correct", {geometry: geometry});
  });
  $("b-cancel-outline").addEventListener("click", () => { stopEditing(); loadFindings(); });

  if ($("add")) {
    $("add").addEventListener("click", () => {
      if (!reviewer()) return;
      $("adding").classList.remove("hidden");
      map.pm.enableDraw("Polygon", {allowSelfIntersection: false, finishOn: null});
    });
    $("add-cancel").addEventListener("click", () => {
      map.pm.disableDraw();
      $("adding").classList.add("hidden");
    });
    map.on("pm:create", async (e) => {
      const geometry = e.layer.toGeoJSON().geometry;
      map.removeLayer(e.layer);
      $("adding").classList.add("hidden");
      const [category, cls] = $("add-class").value.split("|");
      await send({action: "add", survey_id: currentSurvey(), category: category,
                  object_class: cls, geometry: geometry});
    });
  }

  // the analyst checked all the ground in view: learning may take what is unmarked there as
  // ground with no structure
  $("mark-area").addEventListener("click", () => {
    const b = map.getBounds();
    const ring = [[b.getWest(), b.getSouth()], [b.getEast(), b.getSouth()],
                  [b.getEast(), b.getNorth()], [b.getWest(), b.getNorth()],
                  [b.getWest(), b.getSouth()]];
    send({action: "area", survey_id: currentSurvey(),
          geometry: {type: "Polygon", coordinates: [ring]}});
  });

  for (const k of ["survey", "category", "status", "review", "district", "squad", "score"]) {
    $("f-" + k).addEventListener("change", () => {
      if (k === "survey") showImagery();
      loadFindings().catch((e) => say(e.message, true));
    });
  }

  async function start() {
    $("reviewer").value = localStorage.getItem("skypatrol-reviewer") || "";
    state.surveys = await api("api/surveys");
    for (const s of state.surveys) $("f-survey").add(new Option(s.survey_date + " · " + s.survey_id, s.survey_id));
    const last = state.surveys[state.surveys.length - 1];
    if (last && last.bounds) map.fitBounds([[last.bounds[1], last.bounds[0]], [last.bounds[3], last.bounds[2]]]);
    else map.setView([0, 0], 2);
    showImagery();
    const p = await api("api/parcels");
    parcels.addData(p);
    await loadFindings();
    document.body.dataset.ready = "1";
  }
  start().catch((e) => say(e.message, true));
})();
