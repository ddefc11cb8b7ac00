export * from './mariadb-gtid-list.js';
export * from './mysql-gtid-set.js';
