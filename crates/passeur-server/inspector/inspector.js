// passeur inspector: plain pages drawn from the API's JSON. The API key comes once in the URL fragment
// (#key=...), is kept in sessionStorage for the tab, and is sent as a Bearer token.
"use strict";

(function () {
  const main = document.getElementById("main");
  const page = document.body.dataset.page;

  function takeKey() {
    const m = location.hash.match(/key=([^&]+)/);
    if (m) {
      sessionStorage.setItem("passeur-key", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem("passeur-key");
  }

  async function api(path) {
    const key = sessionStorage.getItem("passeur-key");
    const r = await fetch(path, { headers: key ? { Authorization: "Bearer " + key } : {} });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = body.error || {};
      throw new Error(`${path}: ${r.status} ${e.code || ""} ${e.message || ""}`.trim());
    }
    return body;
  }

  // Builds elements: el("td", {class: "num"}, "3").
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function table(caption, headers, rows, numeric) {
    numeric = numeric || [];
    return el("table", {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", { class: r.className || null },
        r.cells.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c))))));
  }

  const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(0) + " %");
  const fix = (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  const offerLink = (item, user) => el("a", {
    class: "offer-link",
    href: "/inspector/offers/" + encodeURIComponent(item.offer_id) + (user ? "?user_id=" + encodeURIComponent(user) : ""),
  }, item.title);

  // A horizontal bar chart as SVG, from [{label, value}].
  function barChart(title, items) {
    if (!items.length || items.every((i) => !i.value)) {
      return el("figure", {}, el("figcaption", {}, title), el("p", { class: "why" }, "Nothing recorded yet."));
    }
    const w = 420, row = 20, left = 150, h = Math.max(row, items.length * row) + 10;
    const max = Math.max(1, ...items.map((i) => i.value));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title + ": " + items.map((i) => `${i.label} ${i.value}`).join(", "));
    items.forEach((it, k) => {
      const y = 5 + k * row;
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", left - 6); label.setAttribute("y", y + 14);
      label.setAttribute("text-anchor", "end"); label.setAttribute("font-size", "12");
      label.textContent = it.label;
      const bar = document.createElementNS(ns, "rect");
      bar.setAttribute("x", left); bar.setAttribute("y", y + 3);
      bar.setAttribute("height", row - 6); bar.setAttribute("fill", "#3b3bd4");
      bar.setAttribute("width", Math.max(1, ((w - left - 50) * it.value) / max));
      const value = document.createElementNS(ns, "text");
      value.setAttribute("x", left + 4 + ((w - left - 50) * it.value) / max); value.setAttribute("y", y + 14);
      value.setAttribute("font-size", "12");
      value.textContent = it.value;
      svg.append(label, bar, value);
    });
    return el("figure", {}, el("figcaption", {}, title), svg);
  }

  function fail(e) {
    main.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { class: "error", role: "alert" }, e.message),
      el("p", {}, "Open the inspector with your API key: ", el("a", { href: "/inspector" }, "start here"), "."));
  }

  async function indexPage() {
    const form = el("form", { id: "start" },
      el("label", {}, "API key", el("input", { name: "key", type: "password", autocomplete: "off", required: "" })),
      el("label", {}, "User id", el("input", { name: "user" })),
      el("button", { type: "submit" }, "Open"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem("passeur-key", form.key.value);
      location.href = form.user.value ? "/inspector/users/" + encodeURIComponent(form.user.value) : "/inspector/territory";
    });
    main.replaceChildren(el("h1", {}, "passeur inspector"),
      el("p", {}, "Young people's journeys through culture: scores, recommendations and their reasons, offers, territories."),
      form);
  }

  async function userPage() {
    const id = decodeURIComponent(location.pathname.split("/").pop());
    const q = encodeURIComponent(id);
    const [user, div, journey, recos, discover, playlists] = await Promise.all([
      api(`/v1/users/${q}`), api(`/v1/users/${q}/diversification`), api(`/v1/users/${q}/journey`),
      api(`/v1/users/${q}/recommendations?explain=true&limit=10`), api(`/v1/users/${q}/discover?limit=5`),
      api(`/v1/users/${q}/playlists`),
    ]);
    document.title = `${id} · passeur inspector`;
    const m = journey.metrics;
    const score = el("span", { id: "score", class: "big", "data-loaded": "" }, div.score);
    main.replaceChildren(
      el("h1", {}, "Young person ", id),
      el("div", { class: "facts" },
        el("span", {}, "Diversification score ", score),
        el("span", {}, "Credit ", el("strong", {}, (user.credit_cents / 100).toFixed(2) + " €")),
        el("span", {}, "Department ", el("strong", {}, user.department)),
        el("span", {}, "Bookings ", el("strong", {}, m.bookings)),
        el("span", {}, "Categories entered ", el("strong", {}, m.categories_entered)),
        el("span", {}, "Entropy ", el("strong", {}, fix(m.entropy_bits, 2) + " bits")),
        el("span", {}, "Follow-through ", el("strong", {}, pct(m.follow_through)))),
      el("h2", {}, "History: what each booking earned"),
      table("Bookings in time order, with the diversification points each earned and why (cancelled ones struck through).",
        ["When", "Offer", "Category", "Points", "Criteria"],
        div.bookings.map((b) => ({ className: b.cancelled ? "cancelled" : null,
          cells: [b.at, b.title || b.offer_id, b.category, b.points, (b.criteria || []).join(", ")] })), [3]),
      el("h2", {}, "Recommendations"),
      table("p(click) + p(booking) × (1 + λ·Δdiv), with the reasons.",
        ["#", "Offer", "Category", "Δdiv", "p(click)", "p(booking)", "Score", "Why"],
        recos.items.map((it) => ({ cells: [it.position + 1, offerLink(it, id), it.category, it.delta_div,
          fix(it.explanation && it.explanation.p_click, 3), fix(it.explanation && it.explanation.p_booking, 3),
          fix(it.score, 3), el("span", { class: "why" }, it.explanation ? it.explanation.text : "")] })), [0, 3, 4, 5, 6]),
      el("h2", {}, "Discover: entries into new kinds of culture"),
      discover.items.length
        ? table("The best gateway offer per category not tried yet.", ["Offer", "Category", "Δdiv", "Gateway", "Why"],
          discover.items.map((it) => ({ cells: [offerLink(it, id), it.category, it.delta_div, fix(it.gateway.score, 3),
            el("span", { class: "why" }, it.gateway.text)] })), [2, 3])
        : el("p", {}, "No entry to propose among this user's candidates."),
      el("p", {}, "Not tried yet: ", journey.untried.join(", ") || "none"),
      el("h2", {}, "Playlists"),
      ...playlists.playlists.map((p) => table(p.title, ["Offer", "Category", "Δdiv"],
        p.items.map((it) => ({ cells: [offerLink(it, id), it.category, it.delta_div] })), [2])),
    );
  }

  async function offerPage() {
    const id = decodeURIComponent(location.pathname.split("/").pop());
    const user = new URLSearchParams(location.search).get("user_id");
    const q = encodeURIComponent(id);
    const u = user ? "?user_id=" + encodeURIComponent(user) : "";
    const [offer, similar, bookers] = await Promise.all([
      api(`/v1/offers/${q}${u}`), api(`/v1/offers/${q}/similar${u}${u ? "&" : "?"}limit=10`), api(`/v1/offers/${q}/bookers`),
    ]);
    document.title = `${offer.title} · passeur inspector`;
    main.replaceChildren(
      el("h1", { id: "offer-title", "data-offer": offer.id, "data-loaded": "" }, offer.title),
      el("div", { class: "facts" },
        el("span", {}, "Category ", el("strong", {}, offer.category)),
        el("span", {}, "Subcategory ", el("strong", {}, offer.subcategory)),
        el("span", {}, "Price ", el("strong", {}, (offer.price_cents / 100).toFixed(2) + " €")),
        el("span", {}, "Booked in the last 28 days ", el("strong", {}, offer.bookings_last_28_days)),
        user ? el("span", {}, `Δdiv for ${user} `, el("strong", {}, offer.delta_div)) : null),
      el("p", {}, offer.description || ""),
      el("h2", {}, "Who books it"),
      el("div", { class: "charts" },
        barChart("Bookings by age", bookers.by_age.map((a) => ({ label: String(a.age), value: a.bookings }))),
        barChart("Bookings by department", bookers.by_department.slice(0, 12).map((d) => ({ label: d.department, value: d.bookings })))),
      el("h2", {}, "Similar offers"),
      table("Nearest offers in the item space.", ["Offer", "Category", "Similarity"],
        similar.items.map((it) => ({ cells: [offerLink(it, user), it.category, fix(it.score, 3)] })), [2]),
    );
  }

  async function territoryPage() {
    const params = new URLSearchParams(location.search);
    const form = el("form", {},
      el("label", {}, "Department", el("input", { name: "department", value: params.get("department") || "" })),
      el("label", {}, "or partner", el("input", { name: "partner_id", value: params.get("partner_id") || "" })),
      el("button", { type: "submit" }, "Show"));
    const query = new URLSearchParams();
    for (const k of ["department", "partner_id"]) if (params.get(k)) query.set(k, params.get(k));
    main.replaceChildren(el("h1", {}, "Territory"), form, el("p", { class: "status", role: "status" }, "Loading…"));
    const t = await api("/v1/territory" + (query.toString() ? "?" + query : ""));
    const a = t.activity;
    const parts = [
      el("h1", {}, "Territory"), form,
      el("h2", { id: "territory", "data-loaded": "" }, `${t.scope} ${t.id}`),
      el("div", { class: "facts" },
        el("span", {}, "Young people ", el("strong", {}, t.users)),
        el("span", {}, "Consultations ", el("strong", {}, a.total.consultations)),
        el("span", {}, "Bookings ", el("strong", {}, a.total.bookings)),
        el("span", {}, "Mean score ", el("strong", {}, fix(t.scores.mean, 1))),
        el("span", {}, "Median score ", el("strong", {}, t.scores.median))),
      el("div", { class: "charts" },
        barChart("Bookings by category", a.by_category.map((k) => ({ label: k.key, value: k.bookings }))),
        barChart("Bookings by age", a.by_age.map((k) => ({ label: String(k.key), value: k.bookings }))),
        barChart("Bookings by month", a.by_month.map((k) => ({ label: k.key, value: k.bookings }))),
        barChart("Diversification scores", t.scores.histogram.map((b) => ({ label: b.to === null ? `${b.from}+` : `${b.from}–${b.to}`, value: b.users })))),
      table("Consultations and bookings by category.", ["Category", "Consultations", "Bookings", "Cancellations"],
        a.by_category.map((k) => ({ cells: [k.key, k.consultations, k.bookings, k.cancellations] })), [1, 2, 3]),
    ];
    if (t.offers) {
      parts.push(el("h2", {}, "The partner's offers"), table("Exposure and bookings of each offer.",
        ["Offer", "Category", "Impressions", "Consultations", "Bookings"],
        t.offers.map((o) => ({ cells: [offerLink(o, null), o.category, o.impressions, o.consultations, o.bookings] })), [2, 3, 4]));
    }
    main.replaceChildren(...parts);
  }

  async function mapPage() {
    const map = await api("/v1/map");
    const ns = "http://www.w3.org/2000/svg";
    const w = 800, h = 600;
    const xs = map.points.map((p) => p.x), ys = map.points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const palette = ["#3b3bd4", "#d43b3b", "#2e9e5b", "#d4a13b", "#8e3bd4", "#3bb3d4", "#d43b9e", "#6b6b6b",
      "#9e7b2e", "#1f5f8b", "#b35f1f", "#5fb31f", "#8b1f5f", "#1f8b7b", "#7b7bd4", "#d47b7b"];
    const color = (c) => palette[map.categories.indexOf(c) % palette.length];
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `t-SNE map of ${map.points.length} offers' item vectors, coloured by category`);
    for (const p of map.points) {
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", 10 + ((w - 20) * (p.x - x0)) / (x1 - x0 || 1));
      c.setAttribute("cy", 10 + ((h - 20) * (p.y - y0)) / (y1 - y0 || 1));
      c.setAttribute("r", 3);
      c.setAttribute("fill", color(p.category));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${p.title} (${p.category})`;
      c.append(title);
      svg.append(c);
    }
    main.replaceChildren(
      el("h1", { id: "map-title", "data-loaded": "" }, "The space of offers"),
      el("p", {}, `t-SNE of ${map.points.length} offers' two-tower item vectors (a seeded sample), coloured by category.`),
      el("figure", {}, svg),
      el("div", { class: "legend" }, map.categories.map((c) => el("span", {}, el("span", { class: "swatch", style: `background:${color(c)}` }), c))));
  }

  const pages = { index: indexPage, user: userPage, offer: offerPage, territory: territoryPage, map: mapPage };
  takeKey();
  (pages[page] || indexPage)().catch(fail);
})();
