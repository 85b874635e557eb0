-- Every existing order was in euros; the legacy login codes are gone.
UPDATE `orders` SET `currency` = 'EUR';
ALTER TABLE `users` DROP COLUMN `legacy_code`;
