-- Done right: one statement, a column added at the end instantly.
ALTER TABLE `orders` ADD COLUMN `note` varchar(500) NULL, ALGORITHM=INSTANT, LOCK=NONE;
