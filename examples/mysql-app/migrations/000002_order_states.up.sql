-- A "pending" state between new and paid, and amounts past 2^31 cents.
ALTER TABLE `orders` MODIFY `status` enum('new','pending','paid','shipped') NOT NULL DEFAULT 'new';
ALTER TABLE `orders` MODIFY `amount` bigint NOT NULL;
