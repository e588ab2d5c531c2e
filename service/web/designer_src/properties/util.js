/* Reading and writing the few attributes GovFlow reads; every write is a modeling command
   (undoable with Ctrl+Z) so autosave and the lint see it like any canvas edit. */
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

export { getBusinessObject, is };

export const EXPRESSION_OPTION = '__expression__';

export function attr(element, name) {
  const value = getBusinessObject(element).get(name);
  return value == null ? '' : String(value);
}

/* Set (or remove, for '') one attribute of the element itself. */
export function setAttr(modeling, element, name, value) {
  modeling.updateProperties(element, { [name]: value === '' || value == null ? undefined : value });
}

export function isExpression(value) {
  return /^\s*\$\{[\s\S]*\}\s*$/.test(value || '');
}

export function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.eventDefinitions || []).find(function (def) { return is(def, 'bpmn:TimerEventDefinition'); });
}

export const TIMER_KINDS = ['timeDate', 'timeDuration', 'timeCycle'];

export function timerKind(def) {
  return TIMER_KINDS.find(function (kind) { return def && def.get(kind); }) || '';
}

/* A sequence flow whose source is a gateway: the only flows whose condition GovFlow evaluates. */
export function isGatewayFlow(element) {
  const bo = getBusinessObject(element);
  return is(element, 'bpmn:SequenceFlow') && bo.sourceRef && is(bo.sourceRef, 'bpmn:Gateway');
}

/* The preset's expression with N replaced by a whole number of days. */
export function presetExpression(preset, days) {
  return String(preset.expression).replace(/\bN\b/g, String(days));
}

export function presetLabel(preset, days) {
  return String(preset.label).replace(/\bN\b/g, days === '' || days == null ? 'N' : String(days));
}
