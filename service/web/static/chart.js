// The top classes as a bar chart of plain DOM elements: label, bar (an ARIA meter) and percentage.

/** "97.3%": the one place a probability is worded, for the bars and their accessible values alike. */
export function percent(score) {
  return `${(score * 100).toFixed(1)}%`;
}

/** Replaces the children of `list` (an <ol>) with one row per `{label, score}`, in the given order. */
export function renderBars(list, scored) {
  const rows = scored.map(({ label, score }, index) => {
    const row = document.createElement("li");
    row.className = index === 0 ? "bar-row top" : "bar-row";
    row.dataset.label = label;

    const name = document.createElement("span");
    name.className = "bar-label";
    name.id = `bar-label-${index}`;
    name.textContent = label;

    const track = document.createElement("div");
    track.className = "bar-track";
    track.setAttribute("role", "meter");
    track.setAttribute("aria-labelledby", name.id);
    track.setAttribute("aria-valuemin", "0");
    track.setAttribute("aria-valuemax", "100");
    track.setAttribute("aria-valuenow", String(score * 100));
    track.setAttribute("aria-valuetext", percent(score));

    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    track.append(fill);

    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = percent(score);
    value.setAttribute("aria-hidden", "true"); // the meter already says it

    row.append(name, track, value);
    return row;
  });
  list.replaceChildren(...rows);
}
