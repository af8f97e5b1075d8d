export * from './group.ts';
export { customResourceDefinitions } from './manifests/crd.ts';
export * from './meta.ts';
export * from './node.ts';
export * from './partition.ts';
export * from './printer.ts';
export * from './selection.ts';
export * from './selector.ts';
export * from './units.ts';
