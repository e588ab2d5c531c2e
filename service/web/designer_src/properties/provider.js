/* GovFlowPropertiesProvider: the only provider of the panel (no BPMN or Camunda default groups),
   so a designer sees exactly the attributes GovFlow's engine reads. */
import { Group } from '@bpmn-io/properties-panel';

import {
  AssigneeEntry, CandidateGroupPicker, CandidateGroupsText, ConditionEntry, DueDateEntry,
  DuePresetEntry, FormEntry, IdEntry, NameEntry, NewFormEntry, ScriptEntry, TimerExpressionEntry,
  TimerKindEntry
} from './entries.jsx';
import { is, isGatewayFlow, timerDefinition } from './util.js';

function entry(id, component) {
  return { id, component };
}

function group(id, label, entries, translate) {
  return { id, label, entries, component: Group, translate };
}

export function groupsFor(element, translate) {
  const groups = [];
  const general = [entry('id', IdEntry)];
  if (!is(element, 'bpmn:Collaboration')) general.push(entry('name', NameEntry));
  groups.push(group('general', '基本信息', general, translate));

  if (is(element, 'bpmn:UserTask')) {
    groups.push(group('handling', '办理', [
      entry('candidateGroups', CandidateGroupPicker),
      entry('candidateGroupsText', CandidateGroupsText),
      entry('assignee', AssigneeEntry)
    ], translate));
    groups.push(group('form', '表单', [entry('formKey', FormEntry), entry('formKeyText', NewFormEntry)], translate));
    groups.push(group('due', '办理期限', [entry('dueDate', DueDateEntry), entry('duePreset', DuePresetEntry)], translate));
  }
  if (is(element, 'bpmn:StartEvent')) {
    groups.push(group('form', '表单', [entry('formKey', FormEntry), entry('formKeyText', NewFormEntry)], translate));
  }
  if (is(element, 'bpmn:Event') && timerDefinition(element)) {
    groups.push(group('timer', '定时', [
      entry('timerKind', TimerKindEntry), entry('timerExpression', TimerExpressionEntry)
    ], translate));
  }
  if (isGatewayFlow(element)) {
    groups.push(group('condition', '条件', [entry('condition', ConditionEntry)], translate));
  }
  if (is(element, 'bpmn:ScriptTask')) {
    groups.push(group('script', '脚本', [entry('script', ScriptEntry)], translate));
  }
  return groups;
}

export default function GovFlowPropertiesProvider(propertiesPanel, translate) {
  this._translate = translate;
  propertiesPanel.registerProvider(500, this);
}

/* Replaces whatever groups lower-priority providers offered (there are none by default). */
GovFlowPropertiesProvider.prototype.getGroups = function (element) {
  const translate = this._translate;
  return function () {
    return groupsFor(element, translate);
  };
};

GovFlowPropertiesProvider.$inject = ['propertiesPanel', 'translate'];
