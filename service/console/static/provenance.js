// credchain console: a note's provenance tree as a picture (d3-hierarchy's tree layout, root at the
// top). Nodes are holdings (a holder's time with a note), edges splits and transfers; colour by
// state, size by amount (the server's 1..5 class: no money arithmetic here). Click or Enter on a
// node: its note's events in the side panel and the path from the root highlighted. Deep levels of
// a big tree start collapsed; each node opens and closes from the panel (or with + / -).
// The data is embedded in the page (#graph-data), else fetched from #graph's data-src.
// When the first layout is drawn, #graph gets data-drawn="1" and the mark "graph-drawn" is set.
"use strict";

(function () {
  const DX_WIDE = 150;      // horizontal spacing of siblings with room for a level label (px)
  const DX_MIN = 16;        // the least (many leaves; labels turned to run downwards)
  const ROTATE_BELOW = 110; // spacing under which labels run downwards
  const DY = 72;            // vertical spacing of levels (px); labels running down need more:
  const DY_ROTATED = 160;
  const LABELS_UP_TO = 400; // visible nodes up to which each gets a text label (else: tooltips)
  const FIRST_VIEW = 150;   // a collapsed tree opens as many levels as keep it under this many nodes
  const MIN_SCALE = 0.35;   // the first view zooms out no further (pan, or "Fit to view")

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function when(iso) { // "2026-11-29T14:05:03Z" -> "2026-11-29 14:05:03 UTC"
    return String(iso).replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") + " UTC";
  }

  function init(container) {
    const text = JSON.parse(document.getElementById("graph-text").textContent);
    const maxOpenDepth = Number(container.dataset.collapseDepth); // -1: nothing collapsed
    let openDepth = maxOpenDepth;
    const panel = document.getElementById("panel-body");
    let root = null; let data = null; let selected = null; let zoom = null;
    let svg = null; let viewport = null; let firstDraw = true;

    const statusText = (s) => text.statuses[s] || s;
    const short = (d) => { // a node's text label: holder (shortened) and amount
      const name = d.data.holder_name.length > 18 ? `${d.data.holder_name.slice(0, 10)}…${d.data.holder_name.slice(-4)}` : d.data.holder_name;
      return `${name} · ${d.data.amount_display}`;
    };
    const label = (d) => `${d.data.holder_name}, ${d.data.amount_display}, ${statusText(d.data.status)}`;

    function collapseBelow(node, depth) {
      if (node.children) node.children.forEach((c) => collapseBelow(c, depth));
      if (node.depth >= depth && node.children) { node._children = node.children; node.children = null; }
    }
    function expandAll(node) {
      if (node._children) { node.children = node._children; node._children = null; }
      if (node.children) node.children.forEach(expandAll);
    }
    function reveal(node) { // open every ancestor of `node`
      for (let a = node.parent; a; a = a.parent) {
        if (a._children) { a.children = a._children; a._children = null; }
      }
    }
    function toggle(node) {
      if (node.children) { node._children = node.children; node.children = null; }
      else if (node._children) { node.children = node._children; node._children = null; }
      draw();
    }
    function hiddenCount(node) { return node._children ? node.copy().count().value - 1 : 0; }

    function firstDepth() { // the deepest level (up to maxOpenDepth) keeping at most FIRST_VIEW nodes open
      const byDepth = [];
      root.each((d) => { byDepth[d.depth] = (byDepth[d.depth] || 0) + 1; });
      let total = 0; let depth = 1;
      for (let k = 0; k < byDepth.length && k <= maxOpenDepth; k += 1) {
        total += byDepth[k];
        if (total > FIRST_VIEW) break;
        depth = Math.max(1, k);
      }
      return depth;
    }

    function spacingFor(nodes) {
      if (nodes.length > LABELS_UP_TO) return { dx: DX_MIN, dy: DY, labels: false, rotated: false };
      const leaves = nodes.filter((d) => !d.children).length || 1;
      const dx = Math.max(DX_MIN, Math.min(DX_WIDE, (container.clientWidth || 800) / leaves));
      const rotated = dx < ROTATE_BELOW;
      return { dx, dy: rotated ? DY_ROTATED : DY, labels: true, rotated };
    }
    let spacing = { dx: DX_WIDE, dy: DY, labels: true, rotated: false };

    function pathOf(node) { return new Set(node ? node.ancestors().map((a) => a.data.id) : data.path); }

    function draw() {
      spacing = spacingFor(root.descendants());
      const layout = d3.tree().nodeSize([spacing.dx, spacing.dy]).separation((a, b) => (a.parent === b.parent ? 1 : 1.3));
      layout(root);
      const nodes = root.descendants();
      const links = root.links();
      const onPath = pathOf(selected);

      const link = viewport.select("g.links").selectAll("path").data(links, (l) => l.target.data.id);
      link.exit().remove();
      link.enter().append("path")
        .merge(link)
        .attr("class", (l) => `edge edge-${l.target.data.edge}${onPath.has(l.target.data.id) ? " on-path" : ""}`)
        .attr("d", d3.linkVertical().x((p) => p.x).y((p) => p.y));

      const node = viewport.select("g.nodes").selectAll("g.node").data(nodes, (d) => d.data.id);
      node.exit().remove();
      const added = node.enter().append("g")
        .attr("tabindex", "0").attr("role", "button")
        .on("click", (event, d) => select(d))
        .on("dblclick", (event, d) => toggle(d))
        .on("keydown", (event, d) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(d); }
          else if (event.key === "+" || event.key === "-") { event.preventDefault(); toggle(d); }
        });
      added.append("circle");
      added.append("title");
      added.append("text").attr("class", "node-label");
      const all = added.merge(node);
      all.attr("class", (d) => `node st-${d.data.status}${d._children ? " collapsed" : ""}${onPath.has(d.data.id) ? " on-path" : ""}${selected === d ? " selected" : ""}`)
        .attr("transform", (d) => `translate(${d.x},${d.y})`)
        .attr("data-holding", (d) => d.data.id)
        .attr("data-note", (d) => d.data.note_id)
        .attr("data-status", (d) => d.data.status)
        .attr("data-leaf", (d) => String(d.data.leaf))
        .attr("aria-pressed", (d) => String(selected === d))
        .attr("aria-label", (d) => label(d) + (d._children ? ` (${text.hidden.replace("{count}", hiddenCount(d))})` : ""));
      all.select("circle").attr("r", (d) => 3 + 2 * d.data.size);
      all.select("title").text((d) => label(d));
      all.select("text")
        .text((d) => (spacing.labels && !(spacing.rotated && d.children) ? short(d) : ""))
        .attr("text-anchor", spacing.rotated ? "start" : "middle")
        .attr("transform", spacing.rotated ? "rotate(90)" : null)
        .attr("dx", spacing.rotated ? "1.3em" : null)
        .attr("dy", spacing.rotated ? "0.35em" : "1.9em");

      if (firstDraw) {
        firstDraw = false;
        fit(false);
        container.dataset.drawn = "1";
        container.dataset.nodes = String(nodes.length);
        performance.mark("graph-drawn");
      }
    }

    // The whole tree in view (`all`), or, if that would make it too small to read, the root's
    // part of it at MIN_SCALE (the rest is a pan away).
    function fit(all) {
      const nodes = root.descendants();
      let minX = Infinity; let maxX = -Infinity; let maxY = 0;
      nodes.forEach((d) => { minX = Math.min(minX, d.x); maxX = Math.max(maxX, d.x); maxY = Math.max(maxY, d.y); });
      const pad = spacing.labels && !spacing.rotated ? DX_WIDE / 2 : 2 * DX_MIN;
      minX -= pad; maxX += pad; maxY += spacing.dy + (spacing.rotated ? 80 : 0);
      const width = container.clientWidth || 800; const height = container.clientHeight || 500;
      let scale = Math.min(1.25, width / (maxX - minX), height / (maxY + 2 * DX_MIN));
      let tx = (width - scale * (minX + maxX)) / 2;
      if (!all && scale < MIN_SCALE) { scale = MIN_SCALE; tx = width / 2 - scale * root.x; }
      svg.call(zoom.transform, d3.zoomIdentity.translate(tx, scale * DX_MIN + 10).scale(scale));
    }

    function facts(rows) {
      const dl = el("dl", { class: "facts" });
      rows.forEach(([k, v]) => { dl.append(el("dt", {}, k)); dl.append(el("dd", {}, v)); });
      return dl;
    }

    function select(d) {
      selected = d;
      draw();
      panel.replaceChildren();
      const h = d.data;
      panel.append(el("h3", { id: "panel-node" }, `${text.note} ${h.note_id} · ${h.holder_name}`));
      panel.append(facts([
        [text.holder, h.holder_name],
        [text.amount, h.amount_display],
        [text.status, statusText(h.status) + (h.leaf ? ` · ${text.leaf}` : "")],
        [text.path, d.ancestors().reverse().map((a) => a.data.holder_name).join(" → ")],
      ]));
      const open = el("p");
      open.append(el("a", { href: `/console/notes/${h.note_id}` }, text.open_note));
      panel.append(open);
      if (d.children || d._children) {
        const button = el("button", { type: "button", class: "secondary", "aria-expanded": String(!!d.children) },
          d.children ? text.collapse : `${text.expand} (${hiddenCount(d)})`);
        button.addEventListener("click", () => { toggle(d); select(d); });
        panel.append(button);
      }
      const table = el("table", { class: "events", "data-testid": "node-events" });
      table.append(el("caption", {}, `${text.events} · ${text.note} ${h.note_id}`));
      const head = table.createTHead().insertRow();
      [text.event, text.tx, text.block, text.time].forEach((c) => head.append(el("th", { scope: "col" }, c)));
      const body = table.createTBody();
      (data.events[h.note_id] || []).forEach((e) => {
        const row = body.insertRow();
        row.append(el("td", {}, e.name));
        const tx = el("td");
        tx.append(el("code", { class: "tx" }, e.tx_hash));
        row.append(tx);
        row.append(el("td", { class: "num" }, String(e.block_number)));
        row.append(el("td", {}, when(e.block_time)));
      });
      panel.append(table);
    }

    function start(json) {
      data = json;
      root = d3.stratify().id((d) => d.id).parentId((d) => d.parent)(data.nodes);
      if (maxOpenDepth >= 0) { openDepth = firstDepth(); collapseBelow(root, openDepth); }
      const asked = root.find((d) => d.data.id === data.path[data.path.length - 1]);
      if (asked) reveal(asked);
      svg = d3.select(container).append("svg")
        .attr("role", "group").attr("aria-label", text.picture)
        .attr("width", "100%").attr("height", "100%");
      viewport = svg.append("g").attr("class", "viewport");
      viewport.append("g").attr("class", "links");
      viewport.append("g").attr("class", "nodes");
      zoom = d3.zoom().scaleExtent([0.05, 4]).on("zoom", (event) => viewport.attr("transform", event.transform));
      svg.call(zoom).on("dblclick.zoom", null);
      draw();
      document.querySelectorAll("[data-graph-action]").forEach((button) => {
        button.addEventListener("click", () => {
          const action = button.dataset.graphAction;
          if (action === "expand") { expandAll(root); draw(); fit(false); }
          else if (action === "collapse") { collapseBelow(root, Math.max(openDepth, 1)); if (selected) reveal(selected); draw(); fit(false); }
          else fit(true);
        });
      });
    }

    const embedded = document.getElementById("graph-data");
    if (embedded) { start(JSON.parse(embedded.textContent)); return; }
    fetch(container.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(start)
      .catch((err) => { container.dataset.error = String(err); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const container = document.getElementById("graph");
    if (container) init(container);
  });
})();
