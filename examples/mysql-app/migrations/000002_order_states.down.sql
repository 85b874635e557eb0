ALTER TABLE `orders` MODIFY `amount` int NOT NULL;
ALTER TABLE `orders` MODIFY `status` enum('new','paid','shipped') NOT NULL DEFAULT 'new';
