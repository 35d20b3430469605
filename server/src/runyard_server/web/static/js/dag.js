// @ts-check
// A DAG drawn as SVG, laid out by depth: each node sits one column right of its deepest
// parent, and the nodes of a column are ordered by their neighbours' mean position
// (a few barycenter sweeps, as Sugiyama-style layouts do) so edges cross less. The
// view redraws only when the graph's shape changes; a status change patches the node
// in place, so a redraw every few seconds keeps the focus and the hover of a node.

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 196;
const NODE_H = 50;
const COL_GAP = 64;
const ROW_GAP = 18;
const LANE_H = 14;
/** Placeholders per node beyond which long edges are drawn straight (behind nodes). */
const LANES_PER_NODE = 4;
const PAD = 8;
const LABEL_CHARS = 22;
const SWEEPS = 4;

/**
 * One node: its parents by id, its name, its status (a class), the line under its name
 * (its status unless given), where it links, and whether it reused an earlier result.
 * @typedef {{id: string, parents: string[], label: string, status: string, detail?: string, href?: string, cached?: boolean}} DagNode
 */

/**
 * An SVG element with attributes and children (text children become text nodes).
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Node | string)} children
 * @returns {SVGElement}
 */
function s(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  el.append(...children);
  return el;
}

/**
 * The columns of the graph, left to right: a node's column is the length of the longest
 * path from a root to it. Parents that are not nodes are ignored; nodes on a cycle (the
 * server refuses those) go to one column after the rest rather than hang the page.
 * @param {DagNode[]} nodes
 * @returns {string[][]}
 */
export function columnsOf(nodes) {
  const ids = new Set(nodes.map((n) => n.id));
  /** @type {Map<string, string[]>} */
  const children = new Map(nodes.map((n) => [n.id, []]));
  /** @type {Map<string, number>} */
  const waiting = new Map();
  for (const n of nodes) {
    const parents = n.parents.filter((p) => ids.has(p));
    waiting.set(n.id, parents.length);
    for (const p of parents) children.get(p)?.push(n.id);
  }
  /** @type {Map<string, number>} */
  const depth = new Map();
  const ready = nodes.filter((n) => waiting.get(n.id) === 0).map((n) => n.id);
  for (const id of ready) depth.set(id, 0);
  while (ready.length) {
    const id = /** @type {string} */ (ready.shift());
    for (const child of children.get(id) || []) {
      depth.set(child, Math.max(depth.get(child) || 0, (depth.get(id) || 0) + 1));
      const left = (waiting.get(child) || 0) - 1;
      waiting.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  const deepest = Math.max(-1, ...depth.values());
  /** @type {string[][]} */
  const columns = [];
  for (const n of nodes) {
    const d = depth.has(n.id) && waiting.get(n.id) === 0 ? /** @type {number} */ (depth.get(n.id)) : deepest + 1;
    (columns[d] ||= []).push(n.id);
  }
  return columns.filter(Boolean);
}

/**
 * Where everything goes: the columns with a placeholder in each column an edge skips
 * over (so a long edge takes a lane of its own instead of running behind a node), and
 * each edge as the ids it passes through, placeholders included.
 * @param {DagNode[]} nodes
 * @returns {{columns: string[][], edges: string[][]}}
 */
function lanes(nodes) {
  const columns = columnsOf(nodes);
  /** @type {Map<string, number>} */
  const column = new Map();
  columns.forEach((col, c) => col.forEach((id) => column.set(id, c)));
  /** @type {Map<string, string[]>} */
  const parents = new Map(nodes.map((n) => [n.id, []]));
  /** @type {string[][]} */
  const edges = [];
  // A step every later one depends on would fill each column with placeholders: past a
  // few per node the picture gets no clearer, only taller.
  const skipped = nodes.flatMap((n) => n.parents.filter((p) => column.has(p)).map((p) => Math.max(0, /** @type {number} */ (column.get(n.id)) - /** @type {number} */ (column.get(p)) - 1)));
  const laned = skipped.reduce((a, b) => a + b, 0) <= LANES_PER_NODE * nodes.length;
  for (const n of nodes) {
    const to = /** @type {number} */ (column.get(n.id));
    for (const p of n.parents) {
      if (!column.has(p)) continue;
      const path = [p];
      for (let c = /** @type {number} */ (column.get(p)) + 1; laned && c < to; c++) {
        const lane = `\u0000${p}\u0000${n.id}\u0000${c}`;
        columns[c].push(lane);
        parents.set(lane, [path[path.length - 1]]);
        path.push(lane);
      }
      /** @type {string[]} */ (parents.get(n.id)).push(path[path.length - 1]);
      edges.push([...path, n.id]);
    }
  }
  untangle(columns, parents);
  return { columns, edges };
}

/**
 * Reorder each column by the mean row of each node's neighbours in the column before
 * (sweeping right) or after (sweeping left); a node with none keeps its row.
 * @param {string[][]} columns changed in place
 * @param {Map<string, string[]>} parents id → the ids it hangs from, one column left
 */
function untangle(columns, parents) {
  /** @type {Map<string, string[]>} */
  const children = new Map([...parents.keys()].map((id) => [id, []]));
  for (const [id, ps] of parents) for (const p of ps) children.get(p)?.push(id);
  /** @type {Map<string, number>} */
  const row = new Map();
  columns.forEach((col) => col.forEach((id, i) => row.set(id, i)));
  /** @param {string[]} col @param {Map<string, string[]>} neighbours */
  const sortBy = (col, neighbours) => {
    const key = new Map(col.map((id) => {
      const near = (neighbours.get(id) || []).map((n) => /** @type {number} */ (row.get(n)));
      return [id, near.length ? near.reduce((a, b) => a + b, 0) / near.length : /** @type {number} */ (row.get(id))];
    }));
    col.sort((a, b) => /** @type {number} */ (key.get(a)) - /** @type {number} */ (key.get(b)));
    col.forEach((id, i) => row.set(id, i));
  };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let c = 1; c < columns.length; c++) sortBy(columns[c], parents);
    for (let c = columns.length - 2; c >= 0; c--) sortBy(columns[c], children);
  }
}

/** @param {string} text */
const shorten = (text) => (text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text);

/**
 * The shape of the graph: nodes and edges, not their status.
 * @param {DagNode[]} nodes
 */
const shapeOf = (nodes) => JSON.stringify(nodes.map((n) => [n.id, n.parents, n.label]));

/**
 * @param {SVGElement} g a node's group
 * @param {DagNode} node
 */
function patch(g, node) {
  g.setAttribute("class", `dag-node status-${node.status}${node.cached ? " cached" : ""}`);
  g.dataset.status = node.status;
  const status = /** @type {SVGElement} */ (g.querySelector(".dag-status"));
  status.textContent = node.detail || node.status;
  const link = g.querySelector("a");
  if (link && node.href) link.setAttribute("href", node.href);
  else if (link && !node.href) link.removeAttribute("href");
}

/**
 * A DAG view: `el` to put on the page, `update(nodes)` to show new statuses (it redraws
 * only when the nodes or their edges changed).
 * @param {DagNode[]} nodes
 * @param {string} label what the picture shows, for screen readers
 * @returns {{el: HTMLElement, update: (nodes: DagNode[]) => void}}
 */
export function dagView(nodes, label) {
  const box = document.createElement("div");
  box.className = "dag";
  let shape = "";
  /** @type {Map<string, SVGElement>} */
  let groups = new Map();

  /** @param {DagNode[]} fresh */
  function draw(fresh) {
    const { columns, edges } = lanes(fresh);
    // A node's slot holds its box and the gap below; a placeholder's is a thin lane.
    /** @param {string} id */
    const slot = (id) => (id.startsWith("\u0000") ? LANE_H : NODE_H + ROW_GAP);
    const heights = columns.map((col) => col.reduce((sum, id) => sum + slot(id), 0));
    const tallest = Math.max(NODE_H + ROW_GAP, ...heights);
    const width = columns.length * NODE_W + (columns.length - 1) * COL_GAP + 2 * PAD;
    /** Each id's left edge and vertical centre. @type {Map<string, {x: number, y: number}>} */
    const at = new Map();
    columns.forEach((col, c) => {
      // A short column is centred on the tallest, so a fan-in meets its parents halfway.
      let y = PAD + (tallest - heights[c]) / 2;
      for (const id of col) {
        const own = slot(id);
        at.set(id, { x: PAD + c * (NODE_W + COL_GAP), y: id.startsWith("\u0000") ? y + own / 2 : y + NODE_H / 2 });
        y += own;
      }
    });
    const bottoms = [...at].map(([id, p]) => p.y + (id.startsWith("\u0000") ? LANE_H : NODE_H) / 2);
    const height = Math.max(...bottoms) + PAD;
    const drawnEdges = s("g", { class: "dag-edges" });
    for (const path of edges) {
      const points = path.map((id) => /** @type {{x: number, y: number}} */ (at.get(id)));
      // Out of a node's right side, straight through each lane, into the next's left side.
      let d = `M${points[0].x + NODE_W},${points[0].y}`;
      for (let i = 1; i < points.length; i++) {
        const x1 = points[i - 1].x + NODE_W, y1 = points[i - 1].y;
        const x2 = points[i].x, y2 = points[i].y;
        const bend = Math.max(24, (x2 - x1) / 2);
        const last = i === points.length - 1;
        d += ` C${x1 + bend},${y1} ${x2 - bend},${y2} ${last ? x2 - 2 : x2},${y2}`;
        if (!last) d += ` L${x2 + NODE_W},${y2}`;
      }
      drawnEdges.append(s("path", { class: "dag-edge", "data-from": path[0], "data-to": path[path.length - 1], "marker-end": "url(#dag-arrow)", d }));
    }
    groups = new Map();
    const drawn = fresh.map((n) => {
      const { x, y } = /** @type {{x: number, y: number}} */ (at.get(n.id));
      const g = s("g", { transform: `translate(${x},${y - NODE_H / 2})`, "data-step": n.id },
        s("a", {},
          s("title", {}, n.label),
          s("rect", { width: NODE_W, height: NODE_H, rx: 7 }),
          s("text", { class: "dag-label", x: 12, y: 20 }, shorten(n.label)),
          s("text", { class: "dag-status", x: 12, y: 38 })));
      patch(g, n);
      groups.set(n.id, g);
      return g;
    });
    const arrow = s("marker", { id: "dag-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }));
    const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
      s("defs", {}, arrow), drawnEdges, ...drawn);
    box.replaceChildren(svg);
  }

  /** @param {DagNode[]} fresh */
  function update(fresh) {
    const next = shapeOf(fresh);
    if (next !== shape) {
      shape = next;
      draw(fresh);
      return;
    }
    for (const n of fresh) {
      const g = groups.get(n.id);
      if (g) patch(g, n);
    }
  }
  update(nodes);
  return { el: box, update };
}
