import GovFlowPropertiesProvider from './provider.js';

export default {
  __init__: ['govflowPropertiesProvider'],
  govflowPropertiesProvider: ['type', GovFlowPropertiesProvider]
};
