import { useState, type FormEvent } from 'react';
import { Button, Center, Group, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useI18n } from '../i18n';
import { useLogin } from '../session';
import { ErrorAlert } from '../components/states';
import { LanguageSwitch } from '../App';

export function LoginPage() {
  const { t } = useI18n();
  const login = useLogin();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate({ email, password });
  };
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="lg" w="100%" maw={400} component="main">
        <form onSubmit={submit} aria-labelledby="login-title">
          <Stack>
            <Group justify="space-between">
              <Title order={1} size="h3" id="login-title">
                {t('login.title')}
              </Title>
              <LanguageSwitch />
            </Group>
            <TextInput label={t('login.email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            <PasswordInput label={t('login.password')} autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
            {login.error && <ErrorAlert error={login.error} />}
            <Button type="submit" loading={login.isPending}>
              {t('login.submit')}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
