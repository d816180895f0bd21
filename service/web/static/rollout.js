// The rollout box of the page: for a model with a candidate out, the two versions, the split and the agreement
// of the shadow comparison (GET v1/models/{name}/rollout). Only a model whose labels name a "canary" (the
// rollout policy adds it) is asked about, so pages of gateways without rollouts send no failing request. The
// endpoint is admin only: when it refuses, the box stays hidden and nothing else on the page changes.
import { rolloutOf } from "./api.js";

const $ = (id) => document.getElementById(id);

/** Show the rollout of `model` (an entry of GET v1/models), or hide the box when it has none or the caller
 * may not see it. */
export async function showRollout(model, isCurrent) {
  const box = $("rollout");
  let report = null;
  try {
    report = model?.version_labels?.canary != null ? await rolloutOf(model.name) : null;
  } catch {
    report = null; // 401/403 without an admin key, 404 with rollouts off: nothing to show
  }
  if (!isCurrent()) return;
  const policy = report?.policy;
  if (!policy || policy.candidate == null) {
    box.hidden = true;
    return;
  }
  $("rollout-stable").textContent = `version ${policy.stable}`;
  $("rollout-candidate").textContent = `version ${policy.candidate}`;
  $("rollout-split").textContent =
    `canary ${pct(policy.canary_weight)} of requests, shadow ${pct(policy.shadow_rate)} of stable's`;
  $("rollout-agreement").textContent =
    report.agreement == null
      ? "nothing compared yet"
      : `${pct(report.agreement)} of ${report.compared} compared inputs` +
        ` (mean divergence ${report.mean_js_divergence.toFixed(4)} bits, ${report.processes} process(es))`;
  box.hidden = false;
}

function pct(fraction) {
  return `${(fraction * 100).toFixed(fraction < 0.1 && fraction > 0 ? 1 : 0)}%`;
}
