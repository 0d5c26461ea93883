import { LabIcon } from '@jupyterlab/ui-components';

import cardCheckSvg from '../style/icons/cardcheck.svg';

/** Icon of the model card check panel: a document with a check mark. */
export const cardCheckIcon = new LabIcon({
  name: 'cardcheck-lab:card-check',
  svgstr: cardCheckSvg
});
