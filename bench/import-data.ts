/**
 * The generated customer CSV of the import benchmark and profiler: external id, e-mail, a Romanian mobile
 * number written as people type it (20 % of rows without one), names with Romanian letters, city, country,
 * birth date, newsletter yes/no; every row a different person.
 */

const FIRST = ['Ion', 'Maria', 'Andrei', 'Elena', 'Mihai', 'Ioana', 'Alexandru', 'Ana', 'Ştefan', 'Cristina', 'George', 'Irina', 'Radu', 'Oana'];
const LAST = ['Popescu', 'Ionescu', 'Popa', 'Dumitru', 'Stan', 'Stoica', 'Gheorghe', 'Rusu', 'Munteanu', 'Mureşan', 'Ţurcanu', 'Constantin'];
const CITIES = ['Bucureşti', 'Cluj-Napoca', 'Iaşi', 'Timişoara', 'Constanţa', 'Braşov', 'Sibiu', 'Oradea'];
export const HEADER = 'Customer ID,Email Address,Telefon,Prenume,Nume,Oraş,Country,Date of Birth,Newsletter\n';
export const COPY_COLUMNS = 'external_id, email, phone, first_name, last_name, city, country, date_of_birth, newsletter';

export function* csvLines(rows: number): Generator<string> {
  yield HEADER;
  let lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    // 072x xxx xxx: distinct Romanian mobile numbers (valid for libphonenumber), written as people type them
    const n = String(20_000_000 + i);
    const phone = `07${n.slice(0, 2)} ${n.slice(2, 5)} ${n.slice(5)}`;
    const dob = `${1950 + (i % 55)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    lines.push(`u_${i},person${i}@exemplu.ro,${i % 5 === 0 ? '' : phone},${FIRST[i % FIRST.length]},${LAST[(i * 3) % LAST.length]},${CITIES[i % CITIES.length]},RO,${dob},${i % 3 === 0 ? 'yes' : 'no'}\n`);
    if (lines.length === 10_000) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length) yield lines.join('');
}

