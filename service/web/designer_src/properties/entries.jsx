/* The GovFlow properties panel's entries (Chinese labels), on @bpmn-io/properties-panel's
   components. Only what GovFlow reads: id, name, candidate group, assignee, form, due date,
   timer kind and expression, gateway flow conditions and scripts. */
import { SelectEntry, TextAreaEntry, TextFieldEntry } from '@bpmn-io/properties-panel';
import { useState } from '@bpmn-io/properties-panel/preact/hooks';
import { useService } from 'bpmn-js-properties-panel';

import {
  EXPRESSION_OPTION, TIMER_KINDS, attr, getBusinessObject, isExpression, presetExpression,
  presetLabel, setAttr, timerDefinition, timerKind
} from './util.js';

const ID_PATTERN = /^[A-Za-z_][\w.-]*$/;

function useCatalog() {
  return useService('config.govflow', false) || {};
}

export function IdEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="id" label="编号（ID）" debounce={debounce}
    description="流程内唯一，字母开头，只含字母、数字、下划线；案件数据和日志用它指明这一步"
    getValue={() => getBusinessObject(element).id}
    setValue={(value) => { if (value && ID_PATTERN.test(value)) modeling.updateProperties(element, { id: value }); }}
    validate={(value) => (!value ? '编号不能为空' : (ID_PATTERN.test(value) ? null : '编号须以字母开头，只含字母、数字、下划线'))} />;
}

export function NameEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="name" label="名称" debounce={debounce}
    getValue={() => attr(element, 'name')}
    setValue={(value) => modeling.updateLabel(element, value || '')} />;
}

function groupLabel(group) {
  return group.name + '（' + group.key + '）· ' + group.members + ' 人';
}

/* 办理组 picker: the organisation's groups with member counts, or 按案件数据（表达式）. */
export function CandidateGroupPicker({ element }) {
  const modeling = useService('modeling');
  const { catalog = {} } = useCatalog();
  const groups = catalog.groups || [];
  const getValue = () => {
    const value = attr(element, 'camunda:candidateGroups').trim();
    if (!value) return '';
    if (isExpression(value)) return EXPRESSION_OPTION;
    return value;
  };
  const getOptions = () => {
    const value = attr(element, 'camunda:candidateGroups').trim();
    const options = [{ value: '', label: '（未指定：由泳道或办理人决定）' }];
    groups.forEach((group) => options.push({ value: group.key, label: groupLabel(group) }));
    if (value && !isExpression(value) && !groups.some((g) => g.key === value)) {
      options.push({ value, label: value + '（机构中没有此办理组）' });
    }
    options.push({ value: EXPRESSION_OPTION, label: '按案件数据决定（表达式）…' });
    return options;
  };
  const setValue = (value) => {
    if (value === EXPRESSION_OPTION) {
      if (!isExpression(attr(element, 'camunda:candidateGroups'))) setAttr(modeling, element, 'camunda:candidateGroups', '${}');
      return;
    }
    setAttr(modeling, element, 'camunda:candidateGroups', value);
  };
  return <SelectEntry element={element} id="candidateGroups" label="办理组" getValue={getValue}
    setValue={setValue} getOptions={getOptions}
    description="选择由机构中哪个办理组办理这一步；人数为 0 的组，任务将无人办理" />;
}

export function CandidateGroupsText({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="candidateGroupsText" label="办理组（键或表达式）"
    debounce={debounce}
    getValue={() => attr(element, 'camunda:candidateGroups')}
    setValue={(value) => setAttr(modeling, element, 'camunda:candidateGroups', (value || '').trim())}
    description={<span>填写办理组的键（多个用英文逗号分隔），或按案件数据决定：
      <code>{'${字段名}'}</code>（案件数据中该字段的值须是办理组的键，
      如前一步表单中选择的承办单位）。表达式不在部署时核对办理组是否存在。</span>} />;
}

export function AssigneeEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="assignee" label="办理人" debounce={debounce}
    getValue={() => attr(element, 'camunda:assignee')}
    setValue={(value) => setAttr(modeling, element, 'camunda:assignee', (value || '').trim())}
    description={<span>一般留空，由办理组成员认领；也可填用户名或表达式 <code>{'${字段名}'}</code></span>} />;
}

/* 表单 picker with a link to the form editor (urls.form_edit, __FORM__ replaced). */
export function FormEntry({ element }) {
  const modeling = useService('modeling');
  const { catalog = {}, urls = {} } = useCatalog();
  const forms = catalog.forms || [];
  const value = attr(element, 'camunda:formKey');
  const getOptions = () => {
    const current = attr(element, 'camunda:formKey');
    const options = [{ value: '', label: '（无表单）' }];
    forms.forEach((form) => options.push({ value: form.key, label: form.title + '（' + form.key + '）' }));
    if (current && !forms.some((f) => f.key === current)) {
      options.push({ value: current, label: current + '（尚无此表单）' });
    }
    return options;
  };
  const form = forms.find((f) => f.key === value);
  const editUrl = value ? ((form && form.edit_url) || String(urls.form_edit || '').replace('__FORM__', encodeURIComponent(value))) : '';
  return <SelectEntry element={element} id="formKey" label="表单" getOptions={getOptions}
    getValue={() => attr(element, 'camunda:formKey')}
    setValue={(next) => setAttr(modeling, element, 'camunda:formKey', next)}
    description={editUrl
      ? <a class="gf-form-edit" href={editUrl} target="_blank" rel="noopener">编辑表单</a>
      : '办理这一步时填写的表单'} />;
}

/* A new form key the catalog does not list yet (the form editor then creates it). */
export function NewFormEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="formKeyText" label="表单键" debounce={debounce}
    getValue={() => attr(element, 'camunda:formKey')}
    setValue={(value) => setAttr(modeling, element, 'camunda:formKey', (value || '').trim())}
    validate={(value) => (!value || ID_PATTERN.test(value) ? null : '表单键只含字母、数字、下划线，字母开头')}
    description="新建表单时在此填写新键，再点「编辑表单」设计字段" />;
}

export function DueDateEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return <TextFieldEntry element={element} id="dueDate" label="办理期限" debounce={debounce}
    getValue={() => attr(element, 'camunda:dueDate')}
    setValue={(value) => setAttr(modeling, element, 'camunda:dueDate', (value || '').trim())}
    description={<span>到期时间的表达式，如 <code>{'${add_days(now(), 15, "working")}'}</code>；可用下方的常用期限生成</span>} />;
}

/* 常用期限: a due preset (「N 日」「N 个工作日」「收件后 N 日」) and N, written as the expression. */
export function DuePresetEntry({ element }) {
  const modeling = useService('modeling');
  const { catalog = {} } = useCatalog();
  const presets = catalog.due_presets || [];
  const [index, setIndex] = useState('0');
  const [days, setDays] = useState('15');
  if (!presets.length) return null;
  const preset = presets[Number(index)] || presets[0];
  const valid = /^[1-9]\d{0,3}$/.test(days);
  const apply = () => {
    if (valid) setAttr(modeling, element, 'camunda:dueDate', presetExpression(preset, Number(days)));
  };
  return <div class="bio-properties-panel-entry gf-due-helper" data-entry-id="duePreset">
    <label class="bio-properties-panel-label" for="gf-due-preset">常用期限</label>
    <div class="gf-due-row">
      <select id="gf-due-preset" class="bio-properties-panel-input" value={index}
        onChange={(e) => setIndex(e.target.value)}>
        {presets.map((p, i) => <option value={String(i)}>{presetLabel(p, '')}</option>)}
      </select>
      <input id="gf-due-days" class="bio-properties-panel-input" type="number" min="1" max="9999"
        aria-label="天数 N" value={days} onInput={(e) => setDays(e.target.value)} />
      <button type="button" class="gf-due-apply" disabled={!valid} onClick={apply}>填入</button>
    </div>
    <div class="bio-properties-panel-description">
      {valid ? presetLabel(preset, days) + '：' : '天数须是 1 至 9999 的整数'}
      {valid ? <code>{presetExpression(preset, Number(days))}</code> : null}
      {preset.help ? <div>{preset.help}</div> : null}
    </div>
  </div>;
}

const KIND_LABELS = { timeDate: '时间点', timeDuration: '时长', timeCycle: '循环' };
const KIND_HELP = {
  timeDate: '到达该时间点时触发，如案件数据中的期限 route_due_at 或 ISO 时间 2026-12-31T09:00:00',
  timeDuration: '等待一段时间后触发，如 P15D（15 日）、PT2H（2 小时）',
  timeCycle: '按周期重复触发，如 R/2026-01-01T08:00:00/P1M（每月）'
};

export function TimerKindEntry({ element }) {
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const def = timerDefinition(element);
  const setValue = (kind) => {
    const current = timerKind(def);
    if (kind === current) return;
    const body = current ? (def.get(current).body || '') : '';
    const props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
    if (kind) props[kind] = bpmnFactory.create('bpmn:FormalExpression', { body });
    modeling.updateModdleProperties(element, def, props);
  };
  return <SelectEntry element={element} id="timerKind" label="定时类型"
    getValue={() => timerKind(def)} setValue={setValue}
    getOptions={() => [{ value: '', label: '（未设置）' }].concat(
      TIMER_KINDS.map((kind) => ({ value: kind, label: KIND_LABELS[kind] })))} />;
}

export function TimerExpressionEntry({ element }) {
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  const def = timerDefinition(element);
  const kind = timerKind(def) || 'timeDate';
  const setValue = (value) => {
    const body = (value || '').trim();
    const current = timerKind(def);
    if (current) {
      modeling.updateModdleProperties(element, def.get(current), { body });
    } else {
      modeling.updateModdleProperties(element, def, { [kind]: bpmnFactory.create('bpmn:FormalExpression', { body }) });
    }
  };
  return <TextFieldEntry element={element} id="timerExpression" label="定时表达式" debounce={debounce}
    getValue={() => { const k = timerKind(def); return k ? (def.get(k).body || '') : ''; }}
    setValue={setValue} description={KIND_HELP[kind]} />;
}

export function ConditionEntry({ element }) {
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  const bo = getBusinessObject(element);
  const setValue = (value) => {
    const body = (value || '').trim();
    modeling.updateProperties(element, {
      conditionExpression: body ? bpmnFactory.create('bpmn:FormalExpression', { body }) : undefined
    });
  };
  return <TextAreaEntry element={element} id="condition" label="条件" debounce={debounce} rows={2} monospace
    getValue={() => (bo.conditionExpression && bo.conditionExpression.body) || ''} setValue={setValue}
    description={<span>Python 表达式，取案件数据中的字段，如 <code>decision == "approve"</code>；
      留空且网关已设默认流时走默认流</span>} />;
}

export function ScriptEntry({ element }) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  const { catalog = {} } = useCatalog();
  const helpers = catalog.helpers || [];
  const setValue = (value) => {
    const props = { script: value || undefined };
    if (!attr(element, 'scriptFormat')) props.scriptFormat = 'python';
    modeling.updateProperties(element, props);
  };
  return <TextAreaEntry element={element} id="script" label="脚本" debounce={debounce} rows={12} monospace
    getValue={() => attr(element, 'script')} setValue={setValue}
    description={<div class="gf-helpers">
      <div>Python 脚本，直接读写案件数据中的字段。可用函数：</div>
      <ul>{helpers.map((h) => <li><code>{h.name}</code>{h.doc ? ' — ' + h.doc : ''}</li>)}</ul>
    </div>} />;
}
