import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider, createTheme, darken, type CSSVariablesResolver } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter } from 'react-router-dom';
import { ApiError } from './api';
import { I18nProvider } from './i18n';
import { App } from './App';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // Client errors (bad filter, not found, forbidden) do not get better by asking again.
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
    },
  },
});

// Darker primary shade so white-on-primary text keeps WCAG AA contrast. autoContrast: filled badges and
// buttons in light colours (orange, yellow, teal…) get black text instead of white; at a luminance of 0.18
// either choice is at least 4.5:1 (checked by axe-core in web/e2e/admin.test.ts).
const theme = createTheme({ primaryColor: 'indigo', primaryShade: 8, defaultRadius: 'md', autoContrast: true, luminanceThreshold: 0.18 });
// Mantine's "dimmed" grey is 3.3:1 on white; gray.7 keeps secondary text above the 4.5:1 of WCAG AA.
// Text of "light" badges/buttons and coloured text (c="teal") is shade 8 by default: 2.5–3.9:1 for teal,
// green, lime, yellow, orange on their tint. Shade 9 darkened by 40% is at least 5.3:1 on the tint over
// a striped/hovered table row (gray.2) for every palette colour.
const strongText = (shades: readonly string[]) => darken(shades[9]!, 0.4);
const cssVariables: CSSVariablesResolver = (t) => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': 'var(--mantine-color-gray-7)',
    // dark and gray already reach 11:1 and more at shade 8
    ...Object.fromEntries(Object.entries(t.colors).filter(([name]) => name !== 'dark' && name !== 'gray').flatMap(([name, shades]) => [
      [`--mantine-color-${name}-light-color`, strongText(shades)],
      [`--mantine-color-${name}-text`, strongText(shades)],
    ])),
  },
  dark: {},
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light" cssVariablesResolver={cssVariables}>
      <QueryClientProvider client={queryClient}>
        <I18nProvider>
          <BrowserRouter basename="/admin">
            <App />
          </BrowserRouter>
        </I18nProvider>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
