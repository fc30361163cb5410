'use client';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { ApiError } from '../lib/api-client';

export const REFRESH_MS = 5_000;

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            // Live view: poll while the tab is visible; react-query stops when it is hidden.
            refetchInterval: REFRESH_MS,
            refetchIntervalInBackground: false,
            refetchOnWindowFocus: true,
            staleTime: 2_000,
            // A 4xx will not fix itself; a 503 might, and the interval retries anyway.
            retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 1,
            placeholderData: (previous: unknown) => previous,
          },
        },
      }),
  );
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}
