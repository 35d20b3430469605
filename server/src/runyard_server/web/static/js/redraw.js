// @ts-check
// Pages that poll draw again only when what they show changed, and never while one of
// their confirm buttons waits for its second click: a redraw would replace the armed
// button (and the row being hovered) with a fresh one.

/**
 * A drawer for one part of a page: call it with the fetched data and a draw function.
 * @param {HTMLElement} box the part of the page that draw() replaces
 * @returns {{show: (data: unknown, draw: () => void) => void, reset: () => void}}
 */
export function quietRedraw(box) {
  let last = "";
  return {
    show(data, draw) {
      const next = JSON.stringify(data);
      if (next === last || box.querySelector("[data-armed]")) return;
      last = next;
      draw();
    },
    reset() {
      last = "";
    },
  };
}
