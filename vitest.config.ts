import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'crds/**/*.test.ts',
            'kube/**/*.test.ts',
            'operator/**/*.test.ts',
            'node-agent/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'harness',
          include: ['test/controlplane/**/*.test.ts'],
          testTimeout: 90_000,
        },
      },
      {
        test: {
          name: 'apiserver',
          include: [
            'test/api/**/*.test.ts',
            'test/operator/**/*.test.ts',
            'test/agent/**/*.test.ts',
            'test/chart/**/*.test.ts',
          ],
          // One shared apiserver: files run one after another so that an
          // operator started by one file never acts on another file's objects.
          fileParallelism: false,
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.ts'],
          testTimeout: 900_000,
          hookTimeout: 1_200_000,
        },
      },
    ],
  },
});
