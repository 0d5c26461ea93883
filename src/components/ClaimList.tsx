import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatClaimed,
  formatEvidenceValue,
  formatFound,
  formatWhere,
  verdictLabel
} from '../format';
import { VERDICT_ORDER } from '../model';
import type { IClaim, IEvidence } from '../types';

export interface IClaimRowProps {
  claim: IClaim;
  trans: TranslationBundle;
  onOpenClaim: (claim: IClaim) => void;
  onOpenEvidence: (evidence: IEvidence) => void;
}

/**
 * Renders one claim: verdict, claim text (a link to the card line), claimed
 * and found values, and evidence links.
 */
export function ClaimRow(props: IClaimRowProps): JSX.Element {
  const { claim, trans } = props;
  const evidence = claim.evidence ?? [];
  const showValues = claim.verdict !== 'no_evidence' || evidence.length > 0;
  return (
    <li
      className={`jp-CardCheck-claim jp-CardCheck-verdict-${claim.verdict}`}
      data-verdict={claim.verdict}
      aria-label={trans.__('%1: %2', verdictLabel(claim.verdict, trans), claim.text)}
    >
      <div className="jp-CardCheck-claimHeader">
        <span className="jp-CardCheck-badge">{verdictLabel(claim.verdict, trans)}</span>
        <button
          type="button"
          className="jp-CardCheck-link jp-CardCheck-claimText"
          title={trans.__('Open the model card at line %1', claim.line)}
          aria-label={trans.__('Open the model card at line %1: %2', claim.line, claim.text)}
          onClick={() => props.onOpenClaim(claim)}
        >
          <span className="jp-CardCheck-line">{trans.__('line %1', claim.line)}</span>{' '}
          {claim.text}
        </button>
      </div>
      {showValues && (
        <div className="jp-CardCheck-values">
          <span className="jp-CardCheck-claimed">{formatClaimed(claim, trans)}</span>
          <span className="jp-CardCheck-separator" aria-hidden="true">
            {' · '}
          </span>
          <span className="jp-CardCheck-found">{formatFound(claim, trans)}</span>
        </div>
      )}
      {evidence.length > 0 && (
        <ul className="jp-CardCheck-evidence" aria-label={trans.__('Evidence')}>
          {evidence.map((item, index) => (
            <li key={`${item.notebook}:${item.cell_index}:${item.output_index}:${index}`}>
              <button
                type="button"
                className="jp-CardCheck-link"
                title={item.text}
                aria-label={trans.__(
                  'Open %1 at cell %2 (%3)',
                  item.notebook,
                  item.cell_index,
                  formatEvidenceValue(item)
                )}
                onClick={() => props.onOpenEvidence(item)}
              >
                {formatWhere(item, trans)}
              </button>
              <span className="jp-CardCheck-evidenceValue">{formatEvidenceValue(item)}</span>
            </li>
          ))}
        </ul>
      )}
      {claim.reason && <div className="jp-CardCheck-reason">{claim.reason}</div>}
    </li>
  );
}

export interface IClaimListProps {
  /** Claims already sorted by severity. */
  claims: IClaim[];
  trans: TranslationBundle;
  onOpenClaim: (claim: IClaim) => void;
  onOpenEvidence: (evidence: IEvidence) => void;
}

/** Counts claims per verdict, in {@link VERDICT_ORDER}. */
export function countVerdicts(claims: IClaim[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  claims.forEach(claim => {
    counts.set(claim.verdict, (counts.get(claim.verdict) ?? 0) + 1);
  });
  const known = VERDICT_ORDER.filter(verdict => counts.has(verdict)).map(
    (verdict): [string, number] => [verdict, counts.get(verdict)!]
  );
  const others = Array.from(counts.entries()).filter(
    ([verdict]) => !VERDICT_ORDER.includes(verdict)
  );
  return [...known, ...others];
}

/** Renders the claims checked so far, most severe first, with a count per verdict. */
export function ClaimList(props: IClaimListProps): JSX.Element | null {
  const { claims, trans } = props;
  if (claims.length === 0) {
    return null;
  }
  return (
    <section className="jp-CardCheck-section" aria-label={trans.__('Claims')}>
      <h3 className="jp-CardCheck-heading">
        {trans._n('%1 claim', '%1 claims', claims.length)}
      </h3>
      <p className="jp-CardCheck-counts">
        {countVerdicts(claims).map(([verdict, count]) => (
          <span
            key={verdict}
            className={`jp-CardCheck-count jp-CardCheck-verdict-${verdict}`}
          >
            {trans.__('%1: %2', verdictLabel(verdict, trans), count)}
          </span>
        ))}
      </p>
      <ul className="jp-CardCheck-claims" aria-label={trans.__('Claims')}>
        {claims.map(claim => (
          <ClaimRow
            key={claim.id}
            claim={claim}
            trans={trans}
            onOpenClaim={props.onOpenClaim}
            onOpenEvidence={props.onOpenEvidence}
          />
        ))}
      </ul>
    </section>
  );
}
