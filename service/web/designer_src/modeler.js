/* GovFlow's browser modeler (bundled by scripts/build-assets.sh with esbuild): bpmn-js with the
   GovFlow properties panel, zh-CN labels, the bpmnlint rules of bpmnlint-plugin-govflow as the
   designer edits, the server's checks on the canvas, autosaved drafts, submit and deploy. */
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule } from 'bpmn-js-properties-panel';
import lintModule from 'bpmn-js-bpmnlint';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

import { createIssues } from './issues.js';
import linterConfig from './lint-config.js';
import { createServer } from './server.js';
import propertiesModule from './properties/index.js';
import translateModule, { translate } from './translate.js';

const AUTOSAVE_DELAY = 2000;
// The panel's groups start open: a designer sees every attribute GovFlow reads at once.
const OPEN_GROUPS = ['general', 'handling', 'form', 'due', 'timer', 'condition', 'script']
  .reduce(function (all, id) { all[id] = { open: true }; return all; }, {});

function $(id) { return document.getElementById(id); }

function setText(el, text, cls) {
  if (!el) return;
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

function hhmm(iso) {
  const m = /T(\d{2}):(\d{2})/.exec(iso || '');
  if (m) return m[1] + ':' + m[2];
  const d = new Date();
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}

/* A <dialog> asking for a comment (版本说明 / 提交说明); resolves to the text or null. */
function askComment(dialog) {
  return new Promise(function (resolve) {
    const field = dialog.querySelector('textarea');
    const error = dialog.querySelector('.gf-dialog-error');
    field.value = '';
    setText(error, '');
    function done(value) {
      dialog.removeEventListener('close', onClose);
      form.removeEventListener('submit', onSubmit);
      resolve(value);
    }
    const form = dialog.querySelector('form');
    function onSubmit(ev) {
      if (ev.submitter && ev.submitter.value === 'cancel') return;
      if (!field.value.trim()) { ev.preventDefault(); setText(error, '请填写说明'); field.focus(); return; }
    }
    function onClose() { done(dialog.returnValue === 'ok' ? field.value.trim() : null); }
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    field.focus();
  });
}

/* Fit the whole diagram into the part of the canvas the palette leaves free. */
function fitDiagram(modeler) {
  const canvas = modeler.get('canvas');
  const container = canvas.getContainer();
  canvas.zoom('fit-viewport', 'auto');
  const palette = container.querySelector('.djs-palette');
  const covered = palette ? palette.offsetLeft + palette.offsetWidth + 12 : 0;
  const width = container.clientWidth;
  if (!covered || width <= covered * 2) return;
  canvas.zoom(canvas.zoom() * (width - covered) / width, 'auto');
  canvas.scroll({ dx: covered / 2, dy: 0 });
}

function boot(root) {
  const cfg = JSON.parse($('modeler-config').textContent);
  const urls = cfg.urls || {};
  const server = createServer(cfg.csrf);
  const status = $('draft-status');
  const result = $('modeler-result');
  let hasDraft = !!cfg.draft;

  Promise.all([
    server.text(urls.xml),
    server.json(urls.catalog).catch(function () { return null; })
  ]).then(function (loaded) {
    const catalog = loaded[1] || { groups: [], forms: [], helpers: [], due_presets: [] };
    if (!loaded[1]) setText(result, '机构目录无法加载：办理组和表单只能手工填写', 'flash flash-error');
    const modeler = new BpmnModeler({
      container: $('modeler-canvas'),
      propertiesPanel: { parent: $('modeler-panel'), layout: { groups: OPEN_GROUPS } },
      linting: { bpmnlint: linterConfig, active: true },
      govflow: { catalog, urls },
      moddleExtensions: { camunda: camundaModdle },
      additionalModules: [translateModule, BpmnPropertiesPanelModule, propertiesModule, lintModule]
    });
    window.GovFlowModeler = modeler;
    window.GovFlowTranslate = translate;
    return modeler.importXML(loaded[0]).then(function () {
      fitDiagram(modeler);
      wire(modeler);
      root.classList.add('modeler-ready');
    });
  }).catch(function (err) {
    setText(result, '流程图无法加载：' + err.message, 'flash flash-error');
  });

  function wire(modeler) {
    const issues = createIssues(modeler);
    const eventBus = modeler.get('eventBus');
    let changes = 0;      // commands since the page loaded
    let savedAt = 0;      // `changes` at the last successful save
    let timer = null;
    let saving = null;

    /* Autosave: PUT the XML ~2 s after the last command. */
    function save() {
      clearTimeout(timer);
      timer = null;
      if (saving) return saving.then(function () { return changes > savedAt ? save() : null; });
      const upto = changes;
      setText(status, '正在保存…', 'gf-status');
      saving = modeler.saveXML({ format: true })
        .then(function (out) { return server.send('PUT', urls.draft, { xml: out.xml }); })
        .then(function (body) {
          savedAt = Math.max(savedAt, upto);
          hasDraft = true;
          const state = body && body.status === 'submitted' ? '（已提交审核）' : '';
          setText(status, '已自动保存 ' + hhmm(body && body.saved_at) + state, 'gf-status gf-status-ok');
        })
        .catch(function (err) {
          setText(status, '保存失败' + (err.message ? '：' + err.message : ''), 'gf-status gf-status-error');
          throw err;
        })
        .finally(function () { saving = null; });
      return saving;
    }

    eventBus.on('commandStack.changed', function () {
      changes += 1;
      setText(status, '有未保存的修改', 'gf-status gf-status-dirty');
      clearTimeout(timer);
      timer = setTimeout(function () { save().catch(function () {}); }, AUTOSAVE_DELAY);
    });

    window.addEventListener('beforeunload', function (ev) {
      if (changes > savedAt || saving) {
        ev.preventDefault();
        ev.returnValue = '';
      }
    });

    eventBus.on('linting.completed', function (ev) {
      const rows = issues.fromLint(ev.issues);
      issues.render($('lint-list'), rows, 'lint');
      setText($('lint-summary'), rows.length ? rows.length + ' 项' : '没有问题');
    });

    function showDetails(title, details, ok) {
      const list = $('check-list');
      issues.render(list, details || [], 'check');
      const errors = (details || []).filter(function (d) { return d.level !== 'warning'; }).length;
      const warnings = (details || []).length - errors;
      setText($('check-summary'), title + (errors || warnings ? '：' + errors + ' 个错误，' + warnings + ' 个警告' : ''),
        ok ? 'gf-summary gf-summary-ok' : 'gf-summary gf-summary-error');
      $('check-section').hidden = false;
    }

    function xml() {
      return modeler.saveXML({ format: true }).then(function (out) { return out.xml; });
    }

    $('btn-check').addEventListener('click', function () {
      const button = this;
      button.disabled = true;
      xml().then(function (body) {
        const url = urls.check + (hasDraft ? (urls.check.indexOf('?') < 0 ? '?' : '&') + 'forms=draft' : '');
        return server.send('POST', url, body, 'application/xml');
      }).then(function (res) {
        const details = (res.errors || []).map(function (d) { return Object.assign({ level: 'error' }, d); })
          .concat((res.warnings || []).map(function (d) { return Object.assign({}, d, { level: 'warning' }); }));
        showDetails(res.ok ? '检查通过' : '检查未通过', details, res.ok);
      }).catch(function (err) {
        showDetails('检查失败：' + err.message, err.details || [], false);
      }).finally(function () { button.disabled = false; });
    });

    const deploy = $('btn-deploy');
    if (deploy && urls.deploy) {
      deploy.addEventListener('click', function () {
        askComment($('deploy-dialog')).then(function (comment) {
          if (comment === null) return;
          deploy.disabled = true;
          clearTimeout(timer);
          return xml().then(function (body) {
            return server.send('POST', urls.deploy, { comment, xml: body });
          }).then(function (res) {
            savedAt = changes;
            hasDraft = false;
            setText($('based-on'), '基于 v' + res.version);
            setText(status, '已部署为 v' + res.version, 'gf-status gf-status-ok');
            result.className = 'flash flash-success';
            result.innerHTML = '';
            result.append('已部署为 v' + res.version + '。');
            if (urls.versions) {
              const a = document.createElement('a');
              a.href = urls.versions;
              a.id = 'versions-link';
              a.textContent = '查看版本列表';
              result.append(a);
            }
            showDetails('已部署 v' + res.version, (res.warnings || []).map(function (d) {
              return Object.assign({}, d, { level: 'warning' });
            }), true);
          }).catch(function (err) {
            setText(result, '部署未成功：' + err.message, 'flash flash-error');
            showDetails('部署未通过检查', err.details || [], false);
          }).finally(function () { deploy.disabled = false; });
        });
      });
    }

    const submit = $('btn-submit');
    if (submit && urls.submit) {
      submit.addEventListener('click', function () {
        askComment($('submit-dialog')).then(function (comment) {
          if (comment === null) return;
          submit.disabled = true;
          return save().then(function () {
            return server.send('POST', urls.submit, { comment });
          }).then(function () {
            setText(status, '已提交审核，等待管理员部署', 'gf-status gf-status-ok');
            setText(result, '草稿已提交审核，管理员会收到通知。', 'flash flash-success');
          }).catch(function (err) {
            setText(result, '提交失败：' + err.message, 'flash flash-error');
          }).finally(function () { submit.disabled = false; });
        });
      });
    }

    const commandStack = modeler.get('commandStack');
    $('btn-undo').addEventListener('click', function () { commandStack.undo(); });
    $('btn-redo').addEventListener('click', function () { commandStack.redo(); });
    $('btn-fit').addEventListener('click', function () { fitDiagram(modeler); });
  }
}

const root = document.getElementById('modeler');
if (root) boot(root);
