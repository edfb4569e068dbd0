// The model proposals layer of the viewer (issue 16): annotations a model generated
// (`meta_data.generated`, not reviewed yet) are shown or hidden together and filtered by a
// minimum score, with a small control in the side panel. Drawing and hit tests ask
// `hiddenProposal`; `window.exactProposals.hidden()` lists what the last paints left out.

import type { Annotation, Id } from '../api/types';
import { h } from '../pages/dom';

/** The layer's state: shown, and the lowest score shown. */
export const proposalLayer = { shown: true, minScore: 0 };

const hiddenIds = new Set<Id>();
(window as unknown as { exactProposals: unknown }).exactProposals = {
  hidden: () => [...hiddenIds].sort((a, b) => a - b),
  state: () => ({ ...proposalLayer }),
};

/** Whether the layer hides `a`: a proposal while the layer is off, or scored below the minimum. */
export function hiddenProposal(a: Annotation | null | undefined): boolean {
  const m = a?.meta_data;
  if (!a || !m || m.generated !== true) return false;
  const score = typeof m.score === 'number' ? m.score : null;
  const hide = !proposalLayer.shown || (proposalLayer.minScore > 0 && (score === null || score < proposalLayer.minScore));
  if (hide) hiddenIds.add(a.id);
  else hiddenIds.delete(a.id);
  return hide;
}

/** Part of the viewer's repaint key: a change of the layer redraws. */
export function proposalKey(): string {
  return `${proposalLayer.shown}|${proposalLayer.minScore}`;
}

/** The side panel's control: a "model proposals" check box and a minimum-score slider. */
export function proposalControl(changed: () => void): HTMLElement {
  const on = h('input', { type: 'checkbox', id: 'proposals-shown', checked: proposalLayer.shown });
  const min = h('input', { type: 'range', id: 'proposals-min-score', min: 0, max: 1, step: 0.05, value: proposalLayer.minScore });
  const label = h('output', { id: 'proposals-min-label', text: `≥ ${proposalLayer.minScore.toFixed(2)}` });
  const update = () => {
    proposalLayer.shown = on.checked;
    proposalLayer.minScore = Number(min.value) || 0;
    label.textContent = `≥ ${proposalLayer.minScore.toFixed(2)}`;
    min.disabled = !on.checked;
    changed();
  };
  on.addEventListener('change', update);
  min.addEventListener('input', update);
  return h('div', { class: 'proposals' }, h('label', {}, on, ' model proposals'), h('label', { title: 'hide proposals scored below this' }, 'min score ', min, ' ', label));
}
