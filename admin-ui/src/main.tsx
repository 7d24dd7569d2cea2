import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Badge, createTheme, MantineProvider } from '@mantine/core';
import '@mantine/core/styles.css';
import { App } from './App';

const theme = createTheme({
  components: {
    // Status and type badges sit in narrow table cells: never cut them to an ellipsis.
    Badge: Badge.extend({ styles: { root: { minWidth: 'max-content' } } }),
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider defaultColorScheme="light" theme={theme}>
      <App />
    </MantineProvider>
  </StrictMode>,
);
