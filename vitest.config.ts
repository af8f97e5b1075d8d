import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['crds/**/*.test.ts'],
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
          include: ['test/api/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
