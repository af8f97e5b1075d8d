import type { TestProject } from 'vitest/node';
import {
  adminConfig,
  ControlPlane,
  type ControlPlaneInfo,
  installCrds,
} from './controlplane/index.ts';

// One real control plane per test run, shared by every apiserver test file.

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const plane = await ControlPlane.start({ progress: (line) => console.log(line) });
  try {
    await installCrds(adminConfig(plane.info));
  } catch (err) {
    await plane.stop();
    throw err;
  }
  project.provide('controlPlane', plane.info);
  return () => plane.stop();
}
