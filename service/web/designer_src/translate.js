/* The modeler's translate(): every label a designer sees in Chinese. Lookup order: GovFlow's
   dictionary, bpmn-js-i18n's zn dictionary, then the same keys ignoring case, spaces and hyphens
   (the properties panel's header writes "Timer Boundary Event (Non Interrupting)" for the replace
   menu's "Timer boundary event (non-interrupting)"). Misses are kept in `translate.missing`. */
import community from 'bpmn-js-i18n/translations/zn';
import govflow from './zh-CN.js';

const exact = Object.assign({}, community, govflow);

function loose(key) {
  return String(key).toLowerCase().replace(/[^a-z0-9{}()<>]/g, '');
}

const byLoose = {};
Object.keys(exact).forEach(function (key) {
  const k = loose(key);
  if (!(k in byLoose) || key in govflow) byLoose[k] = exact[key];
});

export const missing = new Set();

export function lookup(template) {
  if (template in exact) return exact[template];
  const k = loose(template);
  if (k in byLoose) return byLoose[k];
  if (!/[\u4e00-\u9fff]/.test(template)) missing.add(template);  // GovFlow's own texts are Chinese already
  return template;
}

export function translate(template, replacements) {
  replacements = replacements || {};
  return lookup(template).replace(/{([^}]+)}/g, function (_, key) {
    const value = replacements[key];
    return value === undefined ? '{' + key + '}' : String(value);
  });
}

translate.missing = missing;

export default {
  translate: ['value', translate]
};
